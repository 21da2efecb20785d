//! Integration tests: the real flows over HTTP (function → emulator → simulator), as deployed.
mod passes;
mod templates;
