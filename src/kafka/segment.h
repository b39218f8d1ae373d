#pragma once

// The buffer's segment format lives in base (base/disk_segment.h), shared with the MQTT bridges;
// these names keep the Kafka bridge's code as it was.
#include "base/disk_segment.h"

namespace aiot::kafka {

using ::aiot::Crc32c;
using disk::EncodeFrame;
using disk::FrameSize;
using disk::kFrameFixedBytes;
using disk::kFrameHeaderBytes;
using disk::kMaxFrameBytes;
using disk::kSegmentMagic;
using disk::ParsedSegment;
using disk::ParseSegment;
using disk::SegmentEnd;
using disk::SegmentEndName;
using disk::SegmentRecord;

}  // namespace aiot::kafka
