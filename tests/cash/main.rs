//! Cash red envelopes end to end, over real HTTP against local-stack (the real function binaries),
//! moto and the gateway simulator with its faults. One stack for this binary; every test holds
//! `cash::serial` because the simulator's faults and the reconciler are global.
mod campaigns;
mod concurrency;
mod flaky_store;
mod idempotency;
mod matrix;
mod money_path;
mod notifications;
mod operator_answers;
mod reconciler_race;
mod refusals;
mod schedule;
mod throttle;
mod transfer;
mod transfer_schedule;
