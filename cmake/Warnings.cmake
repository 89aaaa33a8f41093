# Standard settings for first-party targets, linked PRIVATE.
# -Wnull-dereference is left out: GCC 12 reports false positives inside libstdc++ (streambuf).
add_library(tracekit_warnings INTERFACE)
target_compile_options(tracekit_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wno-missing-field-initializers
  $<$<BOOL:${TRACEKIT_WERROR}>:-Werror>
  # GCC 12 + ASan reports maybe-uninitialized false positives inside std::regex/std::function.
  $<$<BOOL:${TRACEKIT_SANITIZE}>:-Wno-maybe-uninitialized>)

add_library(tracekit_sanitizers INTERFACE)
if(TRACEKIT_SANITIZE)
  target_compile_options(tracekit_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(tracekit_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
