#include "io/zip_archive.hpp"

#include <cstring>

#include "io/source.hpp"
#include "regionlm/error.hpp"

namespace regionlm::io {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64EndOfCentralDirectory = 0x06064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;

// Little-endian reads with bounds checks against the archive.
class Bytes {
 public:
  Bytes(const uint8_t* data, uint64_t size, const std::string& source) : data_(data), size_(size), source_(source) {}

  template <class T>
  T read(uint64_t offset) const {
    require(offset, sizeof(T));
    T value;
    std::memcpy(&value, data_ + offset, sizeof(T));
    return value;
  }
  void require(uint64_t offset, uint64_t length) const {
    if (offset > size_ || length > size_ - offset) {
      throw FormatError(source_ + ": zip structure at byte " + std::to_string(offset) +
                        " runs past the end of the file (truncated or corrupt)");
    }
  }
  const char* chars(uint64_t offset) const { return reinterpret_cast<const char*>(data_ + offset); }
  uint64_t size() const { return size_; }

 private:
  const uint8_t* data_;
  uint64_t size_;
  const std::string& source_;
};

}  // namespace

ZipArchive::ZipArchive(const uint8_t* data, uint64_t size, std::string source) : source_(std::move(source)) {
  const Bytes bytes(data, size, source_);
  const auto corrupt = [&](const std::string& what) { return FormatError(source_ + ": not a valid zip archive: " + what); };

  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  if (size < 22) throw corrupt("too short (" + std::to_string(size) + " bytes; truncated?)");
  uint64_t eocd = size - 22;
  const uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
  while (bytes.read<uint32_t>(eocd) != kEndOfCentralDirectory) {
    if (eocd == lowest) throw corrupt("no end of central directory (truncated?)");
    --eocd;
  }
  uint64_t entries = bytes.read<uint16_t>(eocd + 10);
  uint64_t directory_size = bytes.read<uint32_t>(eocd + 12);
  uint64_t directory_offset = bytes.read<uint32_t>(eocd + 16);
  if (entries == 0xffff || directory_size == 0xffffffff || directory_offset == 0xffffffff) {
    if (eocd < 20 || bytes.read<uint32_t>(eocd - 20) != kZip64Locator) throw corrupt("missing ZIP64 locator");
    const uint64_t zip64 = bytes.read<uint64_t>(eocd - 20 + 8);
    if (bytes.read<uint32_t>(zip64) != kZip64EndOfCentralDirectory) throw corrupt("bad ZIP64 end of central directory");
    entries = bytes.read<uint64_t>(zip64 + 32);
    directory_size = bytes.read<uint64_t>(zip64 + 40);
    directory_offset = bytes.read<uint64_t>(zip64 + 48);
  }
  bytes.require(directory_offset, directory_size);

  uint64_t at = directory_offset;
  const uint64_t directory_end = directory_offset + directory_size;
  for (uint64_t i = 0; i < entries; ++i) {
    if (at + 46 > directory_end || bytes.read<uint32_t>(at) != kCentralHeader) {
      throw corrupt("central directory entry " + std::to_string(i) + " is malformed");
    }
    const uint16_t flags = bytes.read<uint16_t>(at + 8);
    Record record;
    record.method = bytes.read<uint16_t>(at + 10);
    uint64_t compressed = bytes.read<uint32_t>(at + 20);
    uint64_t uncompressed = bytes.read<uint32_t>(at + 24);
    const uint16_t name_length = bytes.read<uint16_t>(at + 28);
    const uint16_t extra_length = bytes.read<uint16_t>(at + 30);
    const uint16_t comment_length = bytes.read<uint16_t>(at + 32);
    uint64_t local_offset = bytes.read<uint32_t>(at + 42);
    const uint64_t entry_end = at + 46 + name_length + extra_length + comment_length;
    if (entry_end > directory_end) throw corrupt("central directory entry " + std::to_string(i) + " overruns it");
    const std::string name(bytes.chars(at + 46), name_length);
    if (flags & 1) throw corrupt("record '" + name + "' is encrypted");

    // ZIP64 extra field: the 64-bit values replace, in this order, those stored as 0xffffffff.
    for (uint64_t extra = at + 46 + name_length; extra + 4 <= at + 46 + name_length + extra_length;) {
      const uint16_t id = bytes.read<uint16_t>(extra);
      const uint16_t length = bytes.read<uint16_t>(extra + 2);
      if (extra + 4 + length > at + 46 + name_length + extra_length) throw corrupt("extra field of '" + name + "' overruns it");
      if (id == kZip64ExtraId) {
        uint64_t field = extra + 4;
        const uint64_t field_end = field + length;
        for (uint64_t* value : {&uncompressed, &compressed, &local_offset}) {
          if (*value != 0xffffffff) continue;
          if (field + 8 > field_end) throw corrupt("ZIP64 field of '" + name + "' too short");
          *value = bytes.read<uint64_t>(field);
          field += 8;
        }
      }
      extra += 4 + length;
    }

    if (bytes.read<uint32_t>(local_offset) != kLocalHeader) throw corrupt("bad local header for '" + name + "'");
    const uint64_t local_name_length = bytes.read<uint16_t>(local_offset + 26);
    const uint64_t local_extra_length = bytes.read<uint16_t>(local_offset + 28);
    record.data_offset = local_offset + 30 + local_name_length + local_extra_length;
    record.size = compressed;
    if (record.method == 0 && compressed != uncompressed) {
      throw corrupt("stored record '" + name + "' has different compressed and uncompressed sizes");
    }
    bytes.require(record.data_offset, record.size);
    if (!records_.emplace(name, record).second) throw corrupt("duplicate record '" + name + "'");
    at = entry_end;
  }
}

const ZipArchive::Record& ZipArchive::stored(const std::string& name) const {
  const auto it = records_.find(name);
  if (it == records_.end()) throw FormatError(source_ + ": archive has no record '" + name + "'");
  if (it->second.method != 0) {
    throw FormatError(source_ + ": record '" + name + "' is compressed (method " +
                      std::to_string(it->second.method) + "); torch.save stores records uncompressed");
  }
  return it->second;
}

}  // namespace regionlm::io
