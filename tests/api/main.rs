//! Integration tests: the real flows over HTTP (function → emulator → simulator), as deployed.
mod claims;
mod deadlines;
mod passes;
mod templates;
mod throttle;
