#include "io/unpickler.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <unordered_map>

#include "io/source.hpp"
#include "regionlm/error.hpp"

namespace regionlm::io {

namespace {

struct Value;
using Ref = std::shared_ptr<Value>;

// The few Python values a state-dict pickle builds.
struct Value {
  enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;
  int64_t integer = 0;                       // Int, Bool
  double real = 0;                           // Float
  std::string text;                          // String (also bytes), Global "module.name"
  std::vector<Ref> items;                    // Tuple, List
  std::vector<std::pair<Ref, Ref>> entries;  // Dict, in insertion order
  PickledTensor tensor;                      // Storage (key, bytes, dtype) and Tensor
  int depth = 1;                             // nesting depth below and including this value
  bool contained = false;                    // placed inside a container (then immutable)
};

// Deeper values are rejected: destroying a very deep chain of shared_ptrs would recurse
// once per level and could overflow the stack on a hostile file.
constexpr int kMaxValueDepth = 64;

Ref make(Value::Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

// Storage classes torch.save names in persistent ids, by element type.
const std::unordered_map<std::string, c10::ScalarType>& storage_types() {
  static const std::unordered_map<std::string, c10::ScalarType> table{
      {"torch.DoubleStorage", c10::ScalarType::Double}, {"torch.FloatStorage", c10::ScalarType::Float},
      {"torch.HalfStorage", c10::ScalarType::Half},     {"torch.BFloat16Storage", c10::ScalarType::BFloat16},
      {"torch.LongStorage", c10::ScalarType::Long},     {"torch.IntStorage", c10::ScalarType::Int},
      {"torch.ShortStorage", c10::ScalarType::Short},   {"torch.CharStorage", c10::ScalarType::Char},
      {"torch.ByteStorage", c10::ScalarType::Byte},     {"torch.BoolStorage", c10::ScalarType::Bool},
      {"torch.storage.UntypedStorage", c10::ScalarType::Byte},
      {"torch.UntypedStorage", c10::ScalarType::Byte}};
  return table;
}

// dtype objects (`torch.uint16`) passed to _rebuild_tensor_v3.
const std::unordered_map<std::string, c10::ScalarType>& dtype_globals() {
  static const std::unordered_map<std::string, c10::ScalarType> table{
      {"torch.float64", c10::ScalarType::Double},      {"torch.float32", c10::ScalarType::Float},
      {"torch.float16", c10::ScalarType::Half},        {"torch.bfloat16", c10::ScalarType::BFloat16},
      {"torch.float8_e4m3fn", c10::ScalarType::Float8_e4m3fn}, {"torch.float8_e5m2", c10::ScalarType::Float8_e5m2},
      {"torch.int64", c10::ScalarType::Long},          {"torch.int32", c10::ScalarType::Int},
      {"torch.int16", c10::ScalarType::Short},         {"torch.int8", c10::ScalarType::Char},
      {"torch.uint64", c10::ScalarType::UInt64},       {"torch.uint32", c10::ScalarType::UInt32},
      {"torch.uint16", c10::ScalarType::UInt16},       {"torch.uint8", c10::ScalarType::Byte},
      {"torch.bool", c10::ScalarType::Bool}};
  return table;
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, uint64_t size, const std::string& source)
      : data_(data), size_(size), source_(source) {}

  Ref run() {
    while (true) {
      const uint64_t op_at = pos_;
      const uint8_t op = u8();
      op_at_ = op_at;
      switch (op) {
        case 0x80: u8(); break;                     // PROTO
        case 0x95: take(8); break;                  // FRAME (length hint only)
        case '.': return pop();                     // STOP
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(); break;                     // POP
        case '1': pop_mark(); break;                // POP_MARK
        case '2': push(peek()); break;              // DUP
        case 'N': push(make(Value::Kind::None)); break;
        case 0x88: push(boolean(true)); break;      // NEWTRUE
        case 0x89: push(boolean(false)); break;     // NEWFALSE
        case 'J': { int32_t v; std::memcpy(&v, take(4), 4); push(integer(v)); break; }  // BININT
        case 'K': push(integer(u8())); break;       // BININT1
        case 'M': { uint16_t v; std::memcpy(&v, take(2), 2); push(integer(v)); break; }  // BININT2
        case 0x8a: push(integer(long_bytes(u8()))); break;  // LONG1
        case 0x8b: push(integer(long_bytes(u32()))); break; // LONG4
        case 'G': push(real()); break;              // BINFLOAT
        case 'X': push(string(u32())); break;       // BINUNICODE
        case 0x8c: push(string(u8())); break;       // SHORT_BINUNICODE
        case 0x8d: push(string(u64())); break;      // BINUNICODE8
        case 'B': push(string(u32())); break;       // BINBYTES
        case 'C': push(string(u8())); break;        // SHORT_BINBYTES
        case 0x8e: push(string(u64())); break;      // BINBYTES8
        case 'T': push(string(u32())); break;       // BINSTRING
        case 'U': push(string(u8())); break;        // SHORT_BINSTRING
        case ')': push(make(Value::Kind::Tuple)); break;  // EMPTY_TUPLE
        case 't': push(sequence(Value::Kind::Tuple, pop_mark())); break;  // TUPLE
        case 0x85: push(tuple_of(1)); break;        // TUPLE1
        case 0x86: push(tuple_of(2)); break;        // TUPLE2
        case 0x87: push(tuple_of(3)); break;        // TUPLE3
        case ']': push(make(Value::Kind::List)); break;  // EMPTY_LIST
        case 'l': push(sequence(Value::Kind::List, pop_mark())); break;  // LIST
        case 'a': { Ref item = pop(); append(peek(), {item}); break; }  // APPEND (item popped first: argument order is unspecified)
        case 'e': { auto items = pop_mark(); append(peek(), items); break; }  // APPENDS
        case '}': push(make(Value::Kind::Dict)); break;  // EMPTY_DICT
        case 'd': { Ref dict = make(Value::Kind::Dict); set_items(dict, pop_mark()); push(dict); break; }  // DICT
        case 's': { Ref value = pop(); Ref key = pop(); set_items(peek(), {key, value}); break; }  // SETITEM
        case 'u': { auto items = pop_mark(); set_items(peek(), items); break; }  // SETITEMS
        case 'c': { std::string module = line(); push(global(module + "." + line())); break; }  // GLOBAL
        case 0x93: { Ref name = pop(); Ref module = pop();  // STACK_GLOBAL
                     push(global(expect(module, Value::Kind::String, "STACK_GLOBAL")->text + "." +
                                 expect(name, Value::Kind::String, "STACK_GLOBAL")->text)); break; }
        case 'R': { Ref args = pop(); Ref callable = pop(); push(reduce(callable, args)); break; }  // REDUCE
        case 'b': pop(); peek(); break;             // BUILD: object state (OrderedDict._metadata) unused
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 'q': memo_[u8()] = peek(); break;      // BINPUT
        case 'r': memo_[u32()] = peek(); break;     // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = peek(); break;  // MEMOIZE
        case 'h': push(memo(u8())); break;          // BINGET
        case 'j': push(memo(u32())); break;         // LONG_BINGET
        default:
          fail("unsupported pickle opcode 0x" + hex(op));
      }
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(source_ + ": data.pkl byte " + std::to_string(op_at_) + ": " + what);
  }

 private:
  // --- reading the byte stream
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) {
      op_at_ = pos_;
      fail("pickle ends early (truncated?)");
    }
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint8_t u8() { return *take(1); }
  uint32_t u32() { uint32_t v; std::memcpy(&v, take(4), 4); return v; }
  uint64_t u64() { uint64_t v; std::memcpy(&v, take(8), 8); return v; }
  std::string line() {
    std::string out;
    for (char c; (c = static_cast<char>(u8())) != '\n';) out += c;
    return out;
  }
  int64_t long_bytes(uint64_t n) {
    if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit 64 bits");
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (uint64_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  Ref real() {
    const uint8_t* p = take(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
    Ref v = make(Value::Kind::Float);
    std::memcpy(&v->real, &bits, 8);
    return v;
  }
  Ref string(uint64_t n) {
    const uint8_t* p = take(n);
    Ref v = make(Value::Kind::String);
    v->text.assign(reinterpret_cast<const char*>(p), n);
    return v;
  }
  static std::string hex(unsigned v) {
    const char* digits = "0123456789abcdef";
    return std::string{digits[(v >> 4) & 15], digits[v & 15]};
  }

  // --- stack, marks, memo
  void push(Ref v) { stack_.push_back(std::move(v)); }
  Ref pop() {
    if (stack_.empty()) fail("stack underflow");
    Ref v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const Ref& peek() const {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    const size_t mark = marks_.back();
    marks_.pop_back();
    if (mark > stack_.size()) fail("MARK below the stack");
    std::vector<Ref> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  Ref memo(uint64_t key) const {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo entry " + std::to_string(key) + " was never stored");
    return it->second;
  }

  // --- values
  static Ref boolean(bool b) {
    Ref v = make(Value::Kind::Bool);
    v->integer = b;
    return v;
  }
  static Ref integer(int64_t i) {
    Ref v = make(Value::Kind::Int);
    v->integer = i;
    return v;
  }
  static Ref global(const std::string& name) {
    Ref v = make(Value::Kind::Global);
    v->text = name;
    return v;
  }
  // Records that `child` now lives inside `parent`, bounding the depth.
  void adopt(Value& parent, Value& child) const {
    // Containers are filled before they are placed (check_mutable), so the only cycle left is
    // a container put into itself (DUP, SETITEM): a shared_ptr cycle that would leak.
    if (&parent == &child) fail("recursive containers are not supported (a container inside itself)");
    if (child.depth >= kMaxValueDepth) fail("values nested deeper than " + std::to_string(kMaxValueDepth));
    parent.depth = std::max(parent.depth, child.depth + 1);
    child.contained = true;
  }
  // Pickle fills a container before placing it in another; only recursive (self-referencing)
  // structures mutate a contained one, and those are not state dicts.
  void check_mutable(const Value& container) const {
    if (container.contained) fail("recursive containers are not supported");
  }
  Ref sequence(Value::Kind kind, std::vector<Ref> items) const {
    Ref v = make(kind);
    for (const Ref& item : items) adopt(*v, *item);
    v->items = std::move(items);
    return v;
  }
  void append(const Ref& list, const std::vector<Ref>& items) const {
    expect(list, Value::Kind::List, "APPEND(S)");
    check_mutable(*list);
    for (const Ref& item : items) {
      adopt(*list, *item);
      list->items.push_back(item);
    }
  }
  Ref tuple_of(size_t n) {
    std::vector<Ref> items(n);
    for (size_t i = n; i-- > 0;) items[i] = pop();
    return sequence(Value::Kind::Tuple, std::move(items));
  }
  const Ref& expect(const Ref& v, Value::Kind kind, const char* context) const {
    if (v->kind != kind) fail(std::string(context) + ": operand of unexpected type");
    return v;
  }
  void set_items(const Ref& dict, const std::vector<Ref>& items) {
    expect(dict, Value::Kind::Dict, "SETITEM(S)");
    check_mutable(*dict);
    if (items.size() % 2) fail("SETITEMS with an odd number of items");
    for (size_t i = 0; i < items.size(); i += 2) {
      adopt(*dict, *items[i]);
      adopt(*dict, *items[i + 1]);
      dict->entries.emplace_back(items[i], items[i + 1]);
    }
  }
  std::vector<int64_t> int_tuple(const Ref& v, const char* what) const {
    if (v->kind != Value::Kind::Tuple) fail(std::string(what) + " is not a tuple");
    std::vector<int64_t> out;
    for (const Ref& item : v->items) {
      if (item->kind != Value::Kind::Int) fail(std::string(what) + " holds a non-integer");
      out.push_back(item->integer);
    }
    return out;
  }

  // ('storage', storage_type, key, location, numel) -> a storage description.
  Ref persistent_load(const Ref& pid) {
    if (pid->kind != Value::Kind::Tuple || pid->items.size() != 5 || pid->items[0]->kind != Value::Kind::String ||
        pid->items[0]->text != "storage") {
      fail("persistent id is not ('storage', type, key, location, numel)");
    }
    const Ref& type = pid->items[1];
    const Ref& key = pid->items[2];
    const Ref& numel = pid->items[4];
    if (type->kind != Value::Kind::Global || key->kind != Value::Kind::String || numel->kind != Value::Kind::Int ||
        numel->integer < 0) {
      fail("malformed storage persistent id");
    }
    const auto dtype = storage_types().find(type->text);
    if (dtype == storage_types().end()) fail("unsupported storage type " + type->text);
    Ref storage = make(Value::Kind::Storage);
    storage->tensor.storage_key = key->text;
    storage->tensor.dtype = dtype->second;
    storage->tensor.storage_bytes =
        checked_mul(static_cast<uint64_t>(numel->integer), c10::elementSize(dtype->second), source_ + ": storage " + key->text);
    return storage;
  }

  Ref reduce(const Ref& callable, const Ref& args) {
    if (callable->kind != Value::Kind::Global) fail("REDUCE of a non-callable");
    if (args->kind != Value::Kind::Tuple) fail("REDUCE arguments are not a tuple");
    const std::string& name = callable->text;
    const std::vector<Ref>& a = args->items;
    if (name == "collections.OrderedDict") {
      if (!a.empty()) fail("OrderedDict with constructor arguments");
      return make(Value::Kind::Dict);
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.size() < 3 || a[0]->kind != Value::Kind::Tensor) fail(name + ": expected (tensor, requires_grad, hooks, ...)");
      return a[0];  // a Parameter's data; requires_grad and hooks are training state
    }
    // _rebuild_tensor(storage, offset, size, stride)
    // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
    // _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])
    const bool v1 = name == "torch._utils._rebuild_tensor";
    const bool v2 = name == "torch._utils._rebuild_tensor_v2";
    const bool v3 = name == "torch._utils._rebuild_tensor_v3";
    if (!v1 && !v2 && !v3) fail("unsupported callable " + name + " (only tensors and dicts are read)");
    const size_t min_args = v1 ? 4 : v2 ? 6 : 7;
    if (a.size() < min_args || a.size() > min_args + 1 || (v1 && a.size() != 4)) {
      fail(name + " with " + std::to_string(a.size()) + " arguments");
    }
    if (a[0]->kind != Value::Kind::Storage || a[1]->kind != Value::Kind::Int) fail(name + ": bad storage or offset");
    Ref tensor = make(Value::Kind::Tensor);
    tensor->tensor = a[0]->tensor;
    tensor->tensor.storage_offset = a[1]->integer;
    tensor->tensor.shape = int_tuple(a[2], "tensor size");
    tensor->tensor.strides = int_tuple(a[3], "tensor stride");
    if (v3) {
      if (a[6]->kind != Value::Kind::Global) fail(name + ": dtype argument is not a dtype");
      const auto dtype = dtype_globals().find(a[6]->text);
      if (dtype == dtype_globals().end()) fail("unsupported dtype " + a[6]->text);
      tensor->tensor.dtype = dtype->second;
    }
    return tensor;
  }

  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t op_at_ = 0;
  const std::string& source_;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Ref> memo_;
};

constexpr int kMaxNesting = 32;

void flatten(const Value& dict, const std::string& prefix, int depth, const std::string& source,
             std::set<std::string>& seen, std::vector<std::pair<std::string, PickledTensor>>& out) {
  if (depth > kMaxNesting) throw FormatError(source + ": data.pkl: dicts nested deeper than " + std::to_string(kMaxNesting));
  for (const auto& [key, value] : dict.entries) {
    if (key->kind != Value::Kind::String) throw FormatError(source + ": data.pkl: dict key is not a string");
    const std::string name = prefix + key->text;
    if (value->kind == Value::Kind::Tensor) {
      if (!seen.insert(name).second) throw FormatError(source + ": duplicate tensor name '" + name + "'");
      out.emplace_back(name, value->tensor);
    } else if (value->kind == Value::Kind::Dict) {
      flatten(*value, name + ".", depth + 1, source, seen, out);
    }
  }
}

}  // namespace

std::vector<std::pair<std::string, PickledTensor>> unpickle_state_dict(const uint8_t* data, uint64_t size,
                                                                       const std::string& source) {
  Unpickler unpickler(data, size, source);
  const Ref root = unpickler.run();
  if (root->kind != Value::Kind::Dict) unpickler.fail("the pickled object is not a dict of tensors");
  std::vector<std::pair<std::string, PickledTensor>> out;
  std::set<std::string> seen;
  flatten(*root, "", 0, source, seen, out);
  return out;
}

}  // namespace regionlm::io
