#pragma once
// Index of a zip archive held in memory (the mapping of a torch.save file). Only what
// torch.save writes is supported: stored (uncompressed) records, ZIP64 for large files. Every
// offset read from the archive is bounds-checked; nothing is decompressed or copied.
#include <cstdint>
#include <map>
#include <string>

namespace regionlm::io {

class ZipArchive {
 public:
  struct Record {
    uint64_t data_offset = 0;  // byte offset of the record's data in the archive
    uint64_t size = 0;         // bytes
    uint16_t method = 0;       // 0 = stored; anything else is rejected when the record is used
  };

  /// Parses the central directory; throws FormatError naming `source` on any inconsistency.
  ZipArchive(const uint8_t* data, uint64_t size, std::string source);

  const std::map<std::string, Record>& records() const { return records_; }
  /// The record `name`, which must exist and be stored uncompressed.
  const Record& stored(const std::string& name) const;

 private:
  std::string source_;
  std::map<std::string, Record> records_;
};

}  // namespace regionlm::io
