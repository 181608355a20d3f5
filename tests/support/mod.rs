//! What the tests of the `closeloop` binary share: free ports for `closeloop up`, the running
//! process, and tokens from `closeloop token`.

use std::io::Read;
use std::process::{Child, Command};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_closeloop");

/// A base port whose next ports are free too: `closeloop up` takes one per service.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = first.local_addr().unwrap().port();
        let rest: Vec<_> = (1..4)
            .map(|i| std::net::TcpListener::bind(("127.0.0.1", base.saturating_add(i))))
            .collect();
        if rest.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no four consecutive free ports");
}

/// Kills the child if the test fails before stopping it.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A token for `subject` with `role` from `closeloop token`, signed with the secret of the suite
/// whose data folder is `data_dir`.
pub fn token(data_dir: &std::path::Path, subject: &str, role: &str) -> String {
    let out = Command::new(BIN)
        .args(["token", "--subject", subject, "--role", role, "--data-dir"])
        .arg(data_dir)
        .env_remove("CLOSELOOP_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Reads `output` (a child's stderr) to its end on a thread of its own, so that what the child
/// writes never fills the pipe and stalls it; the thread gives all of it back.
pub fn drain(mut output: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = output.read_to_string(&mut text);
        text
    })
}
