//! Running [`inspect_pdf`] in a child process, so that what `catch_unwind` cannot stop (an
//! allocation failure on a decompression bomb, a stack overflow in a recursive parse) kills
//! only the child. The parent caps the child's address space (`RLIMIT_AS`) and CPU time
//! before it starts, kills it at a wall-clock deadline, and reads one line of JSON back.
//!
//! Wiring (done in `main`): when `argv[1] == INSPECTOR_SUBCOMMAND`, call
//! [`run_inspector_child`] and exit with its code, before any runtime or logging starts.
//! The server then calls [`inspect_pdf_isolated`] (blocking: from async code, through
//! `tokio::task::spawn_blocking`).

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::documents::contract::error::ContractError;
use crate::documents::contract::intake::{IntakeLimits, PdfInfo, inspect_pdf};

/// The hidden subcommand that makes the `notarium` binary act as the inspector child.
pub const INSPECTOR_SUBCOMMAND: &str = "__inspect-pdf";
/// Environment variable carrying the page limit to the child.
const MAX_PAGES_ENV: &str = "NOTARIUM_INSPECT_MAX_PAGES";
/// Environment variable carrying the size limit to the child.
const MAX_BYTES_ENV: &str = "NOTARIUM_INSPECT_MAX_BYTES";
/// Largest answer read from the child (the JSON of one `PdfInfo` is far smaller).
const MAX_ANSWER: u64 = 1024 * 1024;
/// How often the parent polls the child while waiting.
const POLL: Duration = Duration::from_millis(5);

/// The child's one line of output.
#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    /// The inspection succeeded.
    Ok(PdfInfo),
    /// The inspection refused the document.
    Err(ContractError),
}

/// Inspects `bytes` in a child process running this very executable with
/// [`INSPECTOR_SUBCOMMAND`], under `limits` (size and pages, address space, wall-clock time).
///
/// # Errors
/// As [`inspect_pdf`], plus `Timeout`, `ResourceLimit` when the child died, and `Inspector`
/// when the child could not be started or answered nonsense.
pub fn inspect_pdf_isolated(bytes: &[u8], limits: &IntakeLimits) -> Result<PdfInfo, ContractError> {
    let exe = std::env::current_exe()
        .map_err(|e| ContractError::Inspector(format!("own executable: {e}")))?;
    let mut command = Command::new(exe);
    command.arg(INSPECTOR_SUBCOMMAND);
    inspect_pdf_with_command(command, bytes, limits)
}

/// As [`inspect_pdf_isolated`] with a given command, which must end up calling
/// [`run_inspector_child`]; its stdout's last line must be the answer.
///
/// # Errors
/// As [`inspect_pdf_isolated`].
pub fn inspect_pdf_with_command(
    mut command: Command,
    bytes: &[u8],
    limits: &IntakeLimits,
) -> Result<PdfInfo, ContractError> {
    // cheap refusals need no child
    if bytes.len() > limits.max_bytes {
        return Err(ContractError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    command
        .env(MAX_PAGES_ENV, limits.max_pages.to_string())
        .env(MAX_BYTES_ENV, limits.max_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    apply_rlimits(&mut command, limits);
    let mut child = command
        .spawn()
        .map_err(|e| ContractError::Inspector(format!("cannot start: {e}")))?;

    let stdin = child.stdin.take();
    let input = bytes.to_vec();
    // The writer and the reader run beside the wait loop so neither pipe can block it.
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            // a child that dies early closes the pipe; its exit status tells why
            let _ = s.write_all(&input);
        }
    });
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(MAX_ANSWER).read_to_end(&mut out);
        }
        out
    });

    let deadline = Instant::now() + limits.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                // our own child, by its handle
                let _ = child.kill();
                let _ = child.wait();
                break Err(ContractError::Timeout(
                    u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
                ));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(ContractError::Inspector(format!("wait: {e}")));
            }
        }
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    let status = status?;
    read_answer(status, &out)
}

/// The child's verdict from its exit status and output.
fn read_answer(status: ExitStatus, out: &[u8]) -> Result<PdfInfo, ContractError> {
    if !status.success() {
        return Err(ContractError::ResourceLimit);
    }
    let text = String::from_utf8_lossy(out);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| ContractError::Inspector("no answer".into()))?;
    match serde_json::from_str::<Answer>(line) {
        Ok(Answer::Ok(info)) => Ok(info),
        Ok(Answer::Err(e)) => Err(e),
        Err(_) => Err(ContractError::Inspector("unreadable answer".into())),
    }
}

#[cfg(unix)]
fn apply_rlimits(command: &mut Command, limits: &IntakeLimits) {
    use std::os::unix::process::CommandExt;
    let memory = limits.memory_bytes;
    // CPU seconds as a second fence behind the wall-clock kill
    let cpu = limits.timeout.as_secs().saturating_add(1);
    // SAFETY: the closure runs between fork and exec and only calls setrlimit, which is
    // async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(move || {
            let as_limit = libc::rlimit {
                rlim_cur: memory as libc::rlim_t,
                rlim_max: memory as libc::rlim_t,
            };
            let cpu_limit = libc::rlimit {
                rlim_cur: cpu as libc::rlim_t,
                rlim_max: cpu as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &as_limit) != 0
                || libc::setrlimit(libc::RLIMIT_CPU, &cpu_limit) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn apply_rlimits(_command: &mut Command, _limits: &IntakeLimits) {}

/// The inspector child's whole life: reads a PDF from stdin (at most the size bound), runs
/// [`inspect_pdf`], writes one line of JSON to stdout, and returns the process exit code
/// (0 whenever an answer was written, refusals included).
pub fn run_inspector_child() -> i32 {
    let defaults = IntakeLimits::default();
    let max_pages = std::env::var(MAX_PAGES_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(defaults.max_pages);
    let max_bytes = std::env::var(MAX_BYTES_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(defaults.max_bytes);
    let limits = IntakeLimits {
        max_pages,
        max_bytes,
        ..defaults
    };
    let mut bytes = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(limits.max_bytes as u64 + 1)
        .read_to_end(&mut bytes);
    let answer = match read {
        Ok(_) => match inspect_pdf(&bytes, &limits) {
            Ok(info) => Answer::Ok(info),
            Err(e) => Answer::Err(e),
        },
        Err(e) => Answer::Err(ContractError::Inspector(format!("stdin: {e}"))),
    };
    let Ok(json) = serde_json::to_string(&answer) else {
        return 2;
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{json}").and_then(|()| out.flush()).is_err() {
        return 2;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::contract::testing::sample_pdf;

    /// Marks the child run of this test binary.
    const CHILD_ENV: &str = "NOTARIUM_TEST_INSPECTOR_CHILD";

    /// Not a check: the entry through which the tests below re-run this test binary as the
    /// inspector child (the server re-runs `notarium __inspect-pdf` the same way).
    #[test]
    fn inspector_child_entry() {
        if std::env::var_os(CHILD_ENV).is_some() {
            std::process::exit(run_inspector_child());
        }
    }

    fn child() -> Command {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args([
            "--exact",
            "documents::contract::isolate::tests::inspector_child_entry",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(CHILD_ENV, "1");
        c
    }

    #[test]
    fn the_child_answers_as_the_in_process_inspection() {
        let pdf = sample_pdf(3, true);
        let limits = IntakeLimits::default();
        let isolated = inspect_pdf_with_command(child(), &pdf, &limits).unwrap();
        assert_eq!(isolated, inspect_pdf(&pdf, &limits).unwrap());
        assert_eq!(isolated.page_count, 3);
        // refusals come back as the same error
        let e = inspect_pdf_with_command(child(), b"not a pdf", &limits).unwrap_err();
        assert_eq!(e, ContractError::NotPdf);
        // the page limit travels to the child
        let few = IntakeLimits {
            max_pages: 2,
            ..limits
        };
        let e = inspect_pdf_with_command(child(), &pdf, &few).unwrap_err();
        assert_eq!(e, ContractError::TooManyPages(2));
    }

    #[test]
    fn a_child_over_its_memory_cap_is_a_resource_limit() {
        // 16 MiB of address space is too little for the test binary to even start
        let tiny = IntakeLimits {
            memory_bytes: 16 * 1024 * 1024,
            ..IntakeLimits::default()
        };
        let e = inspect_pdf_with_command(child(), &sample_pdf(1, false), &tiny).unwrap_err();
        assert_eq!(e, ContractError::ResourceLimit);
    }

    #[test]
    fn a_slow_child_is_killed_at_the_deadline() {
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let limits = IntakeLimits {
            timeout: Duration::from_millis(200),
            ..IntakeLimits::default()
        };
        let started = Instant::now();
        let e = inspect_pdf_with_command(sleeper, &sample_pdf(1, false), &limits).unwrap_err();
        assert_eq!(e, ContractError::Timeout(200));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn nonsense_from_the_child_is_an_inspector_fault() {
        let mut echo = Command::new("echo");
        echo.arg("{not json");
        let e = inspect_pdf_with_command(echo, b"%PDF-1.7", &IntakeLimits::default()).unwrap_err();
        assert!(matches!(e, ContractError::Inspector(_)), "{e:?}");
        let missing = Command::new("/nonexistent/inspector");
        let e =
            inspect_pdf_with_command(missing, b"%PDF-1.7", &IntakeLimits::default()).unwrap_err();
        assert!(matches!(e, ContractError::Inspector(_)), "{e:?}");
    }
}
