//! The embedded PostgreSQL cluster: notarium's default when no `DATABASE_URL` is set.
//!
//! The cluster lives under `<data dir>/pg`, listens only on a unix socket in `<data dir>/pg/run`
//! (no TCP), and trusts local connections: the socket directory is private to the cluster's
//! owner, so only that user (and root) can connect. `initdb` and `postgres` refuse to run as
//! root, so when notarium runs as root the cluster runs as the unprivileged `postgres` user
//! (override with `NOTARIUM_PG_USER`) through `runuser`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Errors of the embedded cluster.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No PostgreSQL server binaries were found anywhere we look.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in PATH, `pg_config --bindir` \
         or /usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: `apt-get install postgresql`) \
         or set DATABASE_URL to an existing server"
    )]
    BinariesNotFound,
    /// Running as root and the unprivileged user does not exist.
    #[error(
        "running as root, but PostgreSQL refuses to run as root and the user `{0}` does not exist; \
         create it, set NOTARIUM_PG_USER to another user, or run notarium as a normal user"
    )]
    NoUnprivilegedUser(String),
    /// A command of the PostgreSQL tool chain failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// The command that failed.
        command: String,
        /// What it printed.
        detail: String,
    },
    /// File system trouble under the data directory.
    #[error("data directory {path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A private PostgreSQL cluster under a data directory.
#[derive(Debug)]
pub struct EmbeddedCluster {
    bin_dir: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<String>,
    /// True when this process started the server (and so stops it on shutdown).
    started_here: bool,
}

/// The superuser and database name used inside the embedded cluster.
pub const EMBEDDED_USER: &str = "notarium";

impl EmbeddedCluster {
    /// Prepares (but does not start) the cluster under `data_dir/pg`.
    pub fn new(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedError::BinariesNotFound)?;
        let data_dir = absolute(data_dir)?;
        let run_as = if is_root() {
            let user = std::env::var("NOTARIUM_PG_USER").unwrap_or_else(|_| "postgres".into());
            if !user_exists(&user) {
                return Err(EmbeddedError::NoUnprivilegedUser(user));
            }
            Some(user)
        } else {
            None
        };
        let pgdata = data_dir.join("pg").join("data");
        let socket_dir = data_dir.join("pg").join("run");
        Ok(Self {
            bin_dir,
            pgdata,
            socket_dir,
            run_as,
            started_here: false,
        })
    }

    /// The directory holding the unix socket (the `host` to connect to).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// A libpq-style connection string for `database`.
    pub fn connection_string(&self, database: &str) -> String {
        format!(
            "host={} user={} dbname={}",
            self.socket_dir.display(),
            EMBEDDED_USER,
            database
        )
    }

    /// Runs `initdb` once, then starts the server unless it is already running.
    ///
    /// A second start reuses the cluster. A stale `postmaster.pid` left by a crash is handled by
    /// PostgreSQL itself (it checks whether the recorded process is alive); we only refuse to
    /// start when `pg_ctl status` says a server is really running on this directory, in which
    /// case we use that server and leave it running when we exit.
    pub fn start(&mut self) -> Result<(), EmbeddedError> {
        self.prepare_dirs()?;
        if !self.pgdata.join("PG_VERSION").exists() {
            self.initdb()?;
        }
        self.remove_stale_pid_file()?;
        if self.is_running() {
            tracing::info!(pgdata = %self.pgdata.display(), "embedded PostgreSQL already running; reusing it");
            return Ok(());
        }
        let log = self
            .pgdata
            .parent()
            .unwrap_or(&self.pgdata)
            .join("postgres.log");
        let opts = format!(
            "-c listen_addresses='' -k {} -c unix_socket_permissions=0700 -c max_connections=200 \
             -c shared_buffers=128MB -c fsync=on -c synchronous_commit=on",
            self.socket_dir.display()
        );
        // After a crash, old backends may hold the shared memory for a moment after the
        // postmaster died; PostgreSQL then refuses to start. Retry for a few seconds.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.run_pg(
                "pg_ctl",
                &[
                    "start".as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-D".as_ref(),
                    self.pgdata.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-o".as_ref(),
                    opts.as_ref(),
                ],
            );
            match result {
                Ok(_) => break,
                Err(_) if attempt < 6 && !self.is_running() => {
                    tracing::warn!(attempt, "embedded PostgreSQL did not start; retrying");
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
                Err(EmbeddedError::Command { command, detail }) => {
                    return Err(EmbeddedError::Command {
                        command,
                        detail: format!("{detail}\n(see {})", log.display()),
                    });
                }
                Err(other) => return Err(other),
            }
        }
        self.started_here = true;
        tracing::info!(pgdata = %self.pgdata.display(), "embedded PostgreSQL started");
        Ok(())
    }

    /// Stops the server if this process started it (fast shutdown: clients disconnected,
    /// everything committed stays durable).
    pub fn stop(&mut self) {
        if !self.started_here {
            return;
        }
        self.started_here = false;
        if let Err(e) = self.run_pg(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-w".as_ref(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-D".as_ref(),
                self.pgdata.as_os_str(),
            ],
        ) {
            tracing::warn!(error = %e, "stopping embedded PostgreSQL");
        } else {
            tracing::info!("embedded PostgreSQL stopped");
        }
    }

    /// Whether a server is running on this data directory.
    pub fn is_running(&self) -> bool {
        self.run_pg(
            "pg_ctl",
            &["status".as_ref(), "-D".as_ref(), self.pgdata.as_os_str()],
        )
        .is_ok()
    }

    /// Removes `postmaster.pid` when the process it names is gone (or a zombie, which
    /// `kill(pid, 0)` still reports alive, or not a postgres at all after pid reuse).
    /// PostgreSQL would otherwise refuse to start, or we would think it running.
    fn remove_stale_pid_file(&self) -> Result<(), EmbeddedError> {
        let pidfile = self.pgdata.join("postmaster.pid");
        let Ok(text) = std::fs::read_to_string(&pidfile) else {
            return Ok(());
        };
        let Some(pid) = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok())
        else {
            return Ok(());
        };
        if process_is_live_postgres(pid) {
            return Ok(());
        }
        tracing::warn!(pid, "removing stale postmaster.pid left by a crash");
        std::fs::remove_file(&pidfile).map_err(|source| EmbeddedError::Io {
            path: pidfile,
            source,
        })
    }

    fn prepare_dirs(&self) -> Result<(), EmbeddedError> {
        for dir in [&self.pgdata, &self.socket_dir] {
            std::fs::create_dir_all(dir).map_err(|source| EmbeddedError::Io {
                path: dir.clone(),
                source,
            })?;
            set_mode(dir, 0o700)?;
            if let Some(user) = &self.run_as {
                chown(dir, user)?;
            }
        }
        if let Some(user) = &self.run_as {
            // The unprivileged user must be able to reach its directories.
            if let Some(pg) = self.pgdata.parent() {
                chown(pg, user)?;
            }
            check_traversable(&self.pgdata, user)?;
        }
        Ok(())
    }

    fn initdb(&self) -> Result<(), EmbeddedError> {
        tracing::info!(pgdata = %self.pgdata.display(), "initialising embedded PostgreSQL cluster");
        self.run_pg(
            "initdb",
            &[
                "-D".as_ref(),
                self.pgdata.as_os_str(),
                "-U".as_ref(),
                EMBEDDED_USER.as_ref(),
                "--auth=trust".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-instructions".as_ref(),
            ],
        )?;
        Ok(())
    }

    fn run_pg(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<Output, EmbeddedError> {
        let exe = self.bin_dir.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args);
        // Never let the child inherit a locale that initdb rejects, nor our stdin.
        cmd.env("LC_ALL", "C").stdin(std::process::Stdio::null());
        let out = cmd.output().map_err(|e| EmbeddedError::Command {
            command: exe.display().to_string(),
            detail: e.to_string(),
        })?;
        if out.status.success() {
            Ok(out)
        } else {
            let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if detail.is_empty() {
                detail = String::from_utf8_lossy(&out.stdout).trim().to_string();
            }
            Err(EmbeddedError::Command {
                command: tool.to_string(),
                detail,
            })
        }
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds the directory holding `initdb`, `pg_ctl` and `postgres`.
///
/// Order: `NOTARIUM_PG_BIN`, then PATH, then `pg_config --bindir`, then the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_all = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|t| d.join(t).is_file())
    };
    if let Ok(dir) = std::env::var("NOTARIUM_PG_BIN") {
        let d = PathBuf::from(dir);
        if has_all(&d) {
            return Some(d);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_all(&d) {
                // Follow symlinks so that tools find their siblings (pg_ctl runs `postgres`).
                if let Ok(real) = std::fs::canonicalize(d.join("initdb"))
                    && let Some(parent) = real.parent()
                    && has_all(parent)
                {
                    return Some(parent.to_path_buf());
                }
                return Some(d);
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_all(&d) {
            return Some(d);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has_all(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// Whether `pid` is a running (not zombie) process whose command is `postgres`.
fn process_is_live_postgres(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Format: pid (comm) state ...; comm may contain spaces, so split at the last ')'.
    let Some((head, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
    let state = rest.trim_start().chars().next().unwrap_or('X');
    comm.starts_with("postgres") && !matches!(state, 'Z' | 'X')
}

fn absolute(p: &Path) -> Result<PathBuf, EmbeddedError> {
    std::fs::create_dir_all(p).map_err(|source| EmbeddedError::Io {
        path: p.to_path_buf(),
        source,
    })?;
    std::fs::canonicalize(p).map_err(|source| EmbeddedError::Io {
        path: p.to_path_buf(),
        source,
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn user_exists(user: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(user)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), EmbeddedError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        EmbeddedError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn chown(path: &Path, user: &str) -> Result<(), EmbeddedError> {
    let out = Command::new("chown")
        .arg(format!("{user}:"))
        .arg(path)
        .output()
        .map_err(|e| EmbeddedError::Command {
            command: "chown".into(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(EmbeddedError::Command {
            command: format!("chown {user} {}", path.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Checks that `user` can reach `dir` (every ancestor must be searchable by it).
fn check_traversable(dir: &Path, user: &str) -> Result<(), EmbeddedError> {
    let ok = Command::new("runuser")
        .args(["-u", user, "--", "test", "-w"])
        .arg(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(EmbeddedError::Command {
            command: format!("access check as {user}"),
            detail: format!(
                "user `{user}` cannot write {}: a parent directory is not searchable by it; \
                 choose a NOTARIUM_DATA_DIR outside private home directories",
                dir.display()
            ),
        })
    }
}
