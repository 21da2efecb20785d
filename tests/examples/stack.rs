//! The integration-test stack as a process of its own, for tools that test over HTTP from outside
//! (`scripts/schemathesis.sh`): starts moto, the Alipay simulator and local-stack with every function
//! on free loopback ports (see `integration_tests::stack`), prints `api=<url>`, `sim=<url>` and
//! `moto=<url>` on stdout, then serves until it is killed (its children die with it).
//! `LOCAL_LOG_FILE=<path>` also writes every function log line to that file.
use std::io::Write as _;

fn main() {
    let s = integration_tests::stack();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "api={}\nsim={}\nmoto={}", s.api, s.sim, s.moto);
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
