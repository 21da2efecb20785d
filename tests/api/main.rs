//! Integration tests: the real flows over HTTP (function → emulator → simulator), as deployed.
mod deadlines;
mod passes;
