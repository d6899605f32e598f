// RunDaemon: keeld's wiring.  Opens the state store and the kvdb, connects
// to keel.ko, recovers unfinished operations, reconciles, then serves the
// local API until SIGTERM.  SIGHUP re-reads the config file (and re-applies
// the command-line flags over it): log level, labels and pool capacity
// change at once; other keys need a restart and say so in the log.
#pragma once

#include <functional>
#include <string>

#include "manager/common/status.h"
#include "manager/config/config.h"

namespace keel {

// `load` builds the configuration (file, then flags, validated); it runs at
// start-up and on every SIGHUP.  Returns the process exit status.
int RunDaemon(const std::function<Result<Config>()>& load);

}  // namespace keel
