#pragma once

// The durable buffer lives in base (base/disk_buffer.h), shared with the MQTT bridges; these names
// keep the Kafka bridge's code as it was.
#include "base/disk_buffer.h"

namespace aiot::kafka {

using disk::AppendBatchResult;
using disk::AppendItem;
using disk::BufferEntry;
using disk::BufferStats;
using disk::DiskBuffer;
using disk::DiskBufferOptions;
using disk::FsyncPolicy;
using disk::kFsyncPolicyNames;
using disk::RecoveryReport;

}  // namespace aiot::kafka
