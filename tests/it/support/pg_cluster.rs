//! Private PostgreSQL clusters for the TimescaleDB modes the machine's server cannot show at
//! the same time: `initdb` and `pg_ctl` of the machine's PostgreSQL on a free port, stopped
//! (`-m immediate`) and deleted on drop.
//!
//! - [`Kind::NoExtensionFiles`]: a copy of the installation's binaries beside a mirror of its
//!   library and share folders without any `timescaledb*` file, so the server finds no
//!   extension, as on a machine where TimescaleDB was never installed (PostgreSQL locates
//!   its share and library folders relative to the running binary).
//! - [`Kind::NotPreloaded`]: the machine's installation (TimescaleDB's files are there) with
//!   an empty `shared_preload_libraries`, the state right after installing the package.
//! - [`Kind::Preloaded`]: the same with `shared_preload_libraries = 'timescaledb'`.
//!
//! The server runs as user `postgres` when the tests run as root (`initdb` refuses root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::free_port;

/// What the private server offers of TimescaleDB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// No extension files at all.
    NoExtensionFiles,
    /// Extension files, library not preloaded.
    NotPreloaded,
    /// Extension files, library preloaded.
    Preloaded,
}

/// A private PostgreSQL server; stopped and deleted on drop.
pub struct Cluster {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

/// The machine's PostgreSQL binaries (`pg_config --bindir`).
fn system_bindir() -> PathBuf {
    let out = Command::new("pg_config").arg("--bindir").output();
    if let Ok(out) = out
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    // Debian's layout: the newest version under /usr/lib/postgresql.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("no /usr/lib/postgresql: is PostgreSQL installed?")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("no initdb under /usr/lib/postgresql")
}

fn pg_config(bindir: &Path, flag: &str) -> PathBuf {
    let out = Command::new(bindir.join("pg_config"))
        .arg(flag)
        .output()
        .or_else(|_| Command::new("pg_config").arg(flag).output())
        .unwrap();
    assert!(out.status.success(), "pg_config {flag} failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Whether this process runs as root (then the server runs as user `postgres`).
fn root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `program args` as the cluster's user; panics with its output when it fails.
fn run_as_owner(program: &Path, args: &[&str]) {
    let mut cmd = if root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `path` (a directory) owned by the cluster's user.
fn give_to_owner(path: &Path) {
    if root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// The bin folder of an installation without TimescaleDB: built once per test process
/// under the system temp folder (binaries copied, everything else linked).
fn installation_without_timescaledb() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let bindir = system_bindir();
        let libdir = pg_config(&bindir, "--pkglibdir");
        let sharedir = pg_config(&bindir, "--sharedir");
        let root = std::env::temp_dir().join(format!("chainflow-pg-plain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        // The same layout below `root` as below `/`, so relative lookups land in the mirror.
        let mirror = |p: &Path| root.join(p.strip_prefix("/").unwrap());
        let (bin, lib, share) = (mirror(&bindir), mirror(&libdir), mirror(&sharedir));
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["postgres", "initdb", "pg_ctl"] {
            std::fs::copy(bindir.join(tool), bin.join(tool)).unwrap();
        }
        let link_all = |from: &Path, to: &Path| {
            std::fs::create_dir_all(to).unwrap();
            for e in std::fs::read_dir(from).unwrap() {
                let e = e.unwrap();
                let name = e.file_name();
                if name.to_string_lossy().starts_with("timescaledb") || name == "extension" {
                    continue;
                }
                std::os::unix::fs::symlink(e.path(), to.join(&name)).unwrap();
            }
        };
        link_all(&libdir, &lib);
        link_all(&sharedir, &share);
        link_all(&sharedir.join("extension"), &share.join("extension"));
        let mut perms = root.clone();
        // Every folder on the way must be readable by the server's user.
        loop {
            let _ = Command::new("chmod").arg("a+rx").arg(&perms).status();
            if !perms.pop() || perms == std::env::temp_dir() {
                break;
            }
        }
        let _ = Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(&root)
            .status();
        bin
    })
}

impl Cluster {
    /// Creates and starts a cluster of `kind` (a few seconds).
    pub fn start(kind: Kind) -> Cluster {
        let bin = match kind {
            Kind::NoExtensionFiles => installation_without_timescaledb().to_path_buf(),
            Kind::NotPreloaded | Kind::Preloaded => system_bindir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("chainflow-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let _ = Command::new("chmod").arg("755").arg(&dir).status();
        let data = dir.join("data");
        std::fs::create_dir(&data).unwrap();
        give_to_owner(&dir);
        run_as_owner(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let preload = match kind {
            Kind::Preloaded => "timescaledb",
            _ => "",
        };
        let mut cluster = Cluster { port: 0, dir, bin };
        cluster.launch(preload);
        cluster
    }

    /// Starts the server on a free port with `shared_preload_libraries = preload`.
    fn launch(&mut self, preload: &str) {
        let (dir, bin) = (self.dir.clone(), self.bin.clone());
        let data = dir.join("data");
        for _ in 0..5 {
            let port = free_port();
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
                 -c shared_preload_libraries='{preload}' -c timescaledb.telemetry_level=off \
                 -c max_connections=50",
                dir.display()
            );
            let log = dir.join("server.log");
            let started = if root() {
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(bin.join("pg_ctl"))
                    .args(["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap()])
                    .args(["-o", &opts, "-w", "-t", "60", "start"])
                    .output()
                    .unwrap()
            } else {
                Command::new(bin.join("pg_ctl"))
                    .args(["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap()])
                    .args(["-o", &opts, "-w", "-t", "60", "start"])
                    .output()
                    .unwrap()
            };
            if started.status.success() {
                self.port = port;
                return;
            }
            eprintln!(
                "pg_ctl start on port {port} failed (retrying on another): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("the private PostgreSQL did not start");
    }

    /// Stops the server and starts it again on the same data with `shared_preload_libraries
    /// = preload` (on another free port: see [`Cluster::url`]).
    pub fn restart(&mut self, preload: &str) {
        self.stop();
        self.launch(preload);
    }

    fn stop(&self) {
        let data = self.dir.join("data");
        let args = [
            "-D",
            data.to_str().unwrap_or(""),
            "-m",
            "fast",
            "-w",
            "stop",
        ];
        let _ = if root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(args)
                .output()
        } else {
            Command::new(self.bin.join("pg_ctl")).args(args).output()
        };
    }

    /// The connection string of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A client on database `db`.
    pub fn client(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(db), postgres::NoTls).unwrap()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
