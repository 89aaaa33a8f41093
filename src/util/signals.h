// Stop requests from SIGINT, SIGTERM and SIGHUP.
//
// The handler only sets a flag; main loops poll stop_requested() with a short
// timeout and leave normally, so destructors detach probes and flush files.
#pragma once

namespace tracekit {

void install_stop_signals();
bool stop_requested();
int stop_signal();  // the signal that asked us to stop, 0 if none
void request_stop();

}  // namespace tracekit
