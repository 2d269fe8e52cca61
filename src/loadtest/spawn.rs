//! `--spawn`: a fresh `notarium serve` for one load test, on a free loopback port with a new
//! data directory (so a new embedded PostgreSQL), optionally pinned with `taskset`; stopped,
//! with its database, and removed at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::LoadtestError;
use super::procstat::{embedded_postmaster, read_stat};

/// How long the server may take to answer `/healthz` (initdb on a busy machine is slow).
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long it may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A server started by the load test.
#[derive(Debug)]
pub struct SpawnedServer {
    child: Child,
    /// Its pid (`taskset` execs the server, so this is the server itself).
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The admin key it was given.
    pub admin_key: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    stopped: bool,
}

/// Starts `exe serve` and waits until `/healthz` answers.
pub async fn spawn(exe: &Path, cpus: Option<&str>) -> Result<SpawnedServer, LoadtestError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| LoadtestError::Spawn(format!("no free port: {e}")))?
        .port();
    let data_dir = new_data_dir()?;
    let log_path = data_dir.join("server.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| LoadtestError::Spawn(format!("{}: {e}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| LoadtestError::Spawn(format!("{}: {e}", log_path.display())))?;
    let admin_key = hex::encode(rand::random::<[u8; 24]>());
    let url = format!("http://127.0.0.1:{port}");
    let mut cmd = match cpus {
        Some(list) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(list).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("NOTARIUM_CONFIG")
        .env("NOTARIUM_DATA_DIR", &data_dir)
        .env("NOTARIUM_LISTEN", format!("127.0.0.1:{port}"))
        .env("NOTARIUM_PUBLIC_URL", &url)
        .env("NOTARIUM_ADMIN_KEY", &admin_key)
        .env(
            "NOTARIUM_MASTER_KEY",
            hex::encode(rand::random::<[u8; 32]>()),
        )
        .env("NOTARIUM_TSA_RATE_PER_SEC", "0")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    let child = cmd
        .spawn()
        .map_err(|e| LoadtestError::Spawn(format!("{}: {e}", exe.display())))?;
    let mut server = SpawnedServer {
        pid: child.id(),
        child,
        url,
        admin_key,
        data_dir,
        stopped: false,
    };
    if let Err(e) = server.wait_healthy().await {
        let tail = server.log_tail();
        server.stop().await;
        return Err(LoadtestError::Spawn(format!(
            "{e}; server log ends:\n{tail}"
        )));
    }
    Ok(server)
}

/// A new directory under the temporary directory, traversable by the unprivileged user the
/// embedded PostgreSQL runs as when we are root.
fn new_data_dir() -> Result<PathBuf, LoadtestError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!(
        "notarium-loadtest-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir(&dir)
        .and_then(|_| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| LoadtestError::Spawn(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

impl SpawnedServer {
    async fn wait_healthy(&mut self) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let url = format!("{}/healthz", self.url);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the server exited during start-up ({status})"));
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no answer on {url} after {START_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after a grace period; stops a postmaster left behind; removes the
    /// data directory.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        signal(self.pid, libc::SIGTERM);
        if !self.wait_exit(STOP_TIMEOUT).await {
            signal(self.pid, libc::SIGKILL);
            self.wait_exit(Duration::from_secs(5)).await;
        }
        // A server killed before it stopped its database leaves the postmaster running;
        // SIGINT is PostgreSQL's fast shutdown.
        if let Some(pm) = embedded_postmaster(&self.data_dir) {
            signal(pm, libc::SIGINT);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while read_stat(pm).is_some() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }

    async fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        // Only reached when `stop` was not awaited (an early error or a panic elsewhere): do
        // not leave a server running.
        if !self.stopped {
            signal(self.pid, libc::SIGTERM);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while !matches!(self.child.try_wait(), Ok(Some(_)) | Err(_))
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 0
    {
        // SAFETY: kill(2) with a positive pid we started (or its postmaster); no memory passed.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}
