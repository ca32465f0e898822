//! Private servers for fault tests: a Postgres ([`PrivatePostgres`]), a NATS
//! with JetStream ([`PrivateNats`]) and a three-node JetStream cluster
//! ([`NatsCluster`]), each on spare loopback ports with its data in a
//! temporary directory of its own, so a test can stop, kill and restart them
//! without touching the shared servers on 5432 and 4222.
//!
//! Every server runs in a process group of its own (a kill takes its
//! children too) and is started through `setpriv --pdeathsig KILL`, so it
//! dies with the thread that started it even when the test process is killed
//! outright; dropping a server kills it and removes its directory. Start
//! servers from the test's own tasks, never from `spawn_blocking` (a blocking
//! thread that ends would take its servers with it). As root, Postgres runs
//! as the `postgres` OS user (it refuses to run as root).
//!
//! Every wait is bounded; a missing binary is reported with the Debian
//! package that installs it.

use anyhow::Context as _;
use async_nats::ServerAddr;
use async_nats::jetstream;
use gantry_runtime::config::DatabaseSettings;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use sqlx::{Connection as _, PgConnection, PgPool};
use std::fs::OpenOptions;
use std::future::Future;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// How long a server may take to answer after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after it was asked to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `initdb` may take.
const INITDB_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a start that lost its port to someone else is tried again.
const START_ATTEMPTS: usize = 5;
/// How long one connection attempt during a readiness check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------
// Shared plumbing

/// Returns `count` distinct loopback ports that were free a moment ago (each
/// bound to port 0 and released; a server that then loses one to someone
/// else fails to bind, and its start is tried again on new ports).
fn spare_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a spare port"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    listeners.iter().map(|listener| Ok(listener.local_addr()?.port())).collect()
}

/// True when the log says the server could not bind its port.
fn lost_its_port(log: &str) -> bool {
    ["address already in use", "could not bind", "could not create any tcp/ip sockets"]
        .iter()
        .any(|needle| log.to_lowercase().contains(needle))
}

/// Creates a fresh directory under the system's temporary directory.
fn fresh_directory(kind: &str) -> anyhow::Result<PathBuf> {
    let id = Uuid::new_v4().simple().to_string();
    let directory = std::env::temp_dir().join(format!("gantry-{kind}-{}", &id[..12]));
    std::fs::create_dir_all(&directory).with_context(|| format!("creating {}", directory.display()))?;
    Ok(directory)
}

/// Returns the last lines of a log file (for error messages).
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Finds `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|directory| directory.join(name)).find(|candidate| candidate.is_file())
}

/// Finds util-linux's `setpriv` (it drops to the `postgres` user and sets the
/// parent-death signal, both without unsafe code here).
fn setpriv() -> anyhow::Result<PathBuf> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(PathBuf::from)
        .find(|candidate| candidate.is_file())
        .or_else(|| on_path("setpriv"))
        .context("`setpriv` not found: install the Debian package util-linux")
}

/// True when this process runs as root (the owner of `/proc/self` is the
/// effective user).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|metadata| metadata.uid() == 0).unwrap_or(false)
}

/// Returns the uid and gid of an OS user from `/etc/passwd`.
fn os_user(name: &str) -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() > 3 && fields[0] == name)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .with_context(|| format!("no OS user `{name}` (the Debian package postgresql creates it)"))
}

/// A program to run: the binary, its arguments, as whom and where.
#[derive(Debug, Clone)]
struct Launch {
    program: PathBuf,
    arguments: Vec<String>,
    run_as: Option<(u32, u32)>,
    directory: PathBuf,
    log: PathBuf,
}

impl Launch {
    /// Builds the command: `setpriv [--reuid --regid --clear-groups]
    /// --pdeathsig KILL -- program arguments`, in a process group of its
    /// own, its output appended to the log.
    fn command(&self) -> anyhow::Result<Command> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut command = Command::new(setpriv()?);
        if let Some((uid, gid)) = self.run_as {
            command.arg(format!("--reuid={uid}")).arg(format!("--regid={gid}")).arg("--clear-groups");
        }
        command
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&self.program)
            .args(&self.arguments)
            .current_dir(&self.directory)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        Ok(command)
    }

    /// Starts the program as a server.
    fn spawn(&self) -> anyhow::Result<ServerProcess> {
        let child = self.command()?.spawn().with_context(|| format!("starting {}", self.program.display()))?;
        Ok(ServerProcess { child, reaped: false })
    }

    /// Runs the program to its end and fails unless it succeeds in time.
    async fn run_to_end(&self, timeout: Duration) -> anyhow::Result<()> {
        let mut process = self.spawn()?;
        let status = process.wait_exit(timeout).await.with_context(|| format!("{}", self.program.display()))?;
        anyhow::ensure!(status.success(), "{} failed ({status}):\n{}", self.program.display(), log_tail(&self.log));
        Ok(())
    }
}

/// A running server process, the leader of its own process group.
#[derive(Debug)]
struct ServerProcess {
    child: Child,
    reaped: bool,
}

impl ServerProcess {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Returns its exit status if it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        self.reaped |= status.is_some();
        status
    }

    /// Sends a signal to the server alone (not its group).
    fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        kill(self.pid(), signal).with_context(|| format!("sending {signal} to {}", self.pid()))
    }

    /// Waits for the server to exit; on timeout kills its group and fails.
    async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.kill_group();
                anyhow::bail!("did not exit within {timeout:?}; killed");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Kills the whole process group at once (SIGKILL) and reaps the leader.
    fn kill_group(&mut self) {
        if self.reaped {
            return;
        }
        let _ = killpg(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for ServerProcess {
    /// A server never outlives its handle.
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// Polls `probe` until it answers `Ok(true)`, failing early when the server
/// process has exited (with its log) and after [`READY_TIMEOUT`].
async fn wait_ready<F, Fut>(what: &str, process: &mut ServerProcess, log: &Path, mut probe: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_error = None;
    loop {
        if let Some(status) = process.exited() {
            return Err(Exited { what: what.to_owned(), status, log: log_tail(log) }.into());
        }
        match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
            Ok(Ok(true)) => {
                // Whatever answered, our server must still be the one running.
                if let Some(status) = process.exited() {
                    return Err(Exited { what: what.to_owned(), status, log: log_tail(log) }.into());
                }
                return Ok(());
            }
            Ok(Ok(false)) => {}
            Ok(Err(error)) => last_error = Some(error),
            Err(_) => last_error = Some(anyhow::anyhow!("no answer within {PROBE_TIMEOUT:?}")),
        }
        if Instant::now() >= deadline {
            process.kill_group();
            anyhow::bail!(
                "{what} did not become ready within {READY_TIMEOUT:?} (last error: {last_error:?}); its log:\n{}",
                log_tail(log)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A server exited while it was expected to start.
#[derive(Debug, thiserror::Error)]
#[error("{what} exited during start-up ({status}); its log:\n{log}")]
struct Exited {
    what: String,
    status: ExitStatus,
    log: String,
}

impl Exited {
    fn lost_its_port(error: &anyhow::Error) -> bool {
        error.downcast_ref::<Self>().is_some_and(|exited| lost_its_port(&exited.log))
    }
}

// ---------------------------------------------------------------------------
// Postgres

/// Finds the directory holding `initdb` and `postgres`: `GANTRY_TEST_PG_BINDIR`,
/// else Debian's newest `/usr/lib/postgresql/<version>/bin`, else `PATH`.
fn postgres_bin_directory() -> anyhow::Result<PathBuf> {
    if let Some(directory) = std::env::var_os("GANTRY_TEST_PG_BINDIR") {
        return Ok(PathBuf::from(directory));
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.split('.').map(|part| part.parse().ok()).collect::<Option<Vec<u32>>>()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    on_path("initdb")
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .filter(|bin| bin.join("postgres").is_file())
        .context(
            "PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/<version>/bin \
             or on PATH: install the Debian package postgresql (scripts/lib.sh's ensure_postgres does)",
        )
}

/// A Postgres of a test's own, on a spare loopback port, user `postgres`
/// with trust authentication, `fsync=off` (a kill of the server loses
/// nothing committed; only a crash of the machine would).
#[derive(Debug)]
pub struct PrivatePostgres {
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    directory: PathBuf,
    port: u16,
    process: Option<ServerProcess>,
}

impl PrivatePostgres {
    /// Creates a cluster with `initdb` in a fresh temporary directory and
    /// starts it; returns once it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = postgres_bin_directory()?;
        let run_as = if running_as_root() { Some(os_user("postgres")?) } else { None };
        let directory = fresh_directory("pg")?;
        let mut server = Self { bin, run_as, directory, port: 0, process: None };
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&server.directory, Some(uid), Some(gid))
                .with_context(|| format!("giving {} to the postgres user", server.directory.display()))?;
        }
        let data = server.data_directory().display().to_string();
        let initdb = Launch {
            program: server.bin.join("initdb"),
            arguments: ["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]
                .map(String::from)
                .to_vec(),
            run_as,
            directory: server.directory.clone(),
            log: server.directory.join("initdb.log"),
        };
        initdb.run_to_end(INITDB_TIMEOUT).await?;
        for attempt in 1..=START_ATTEMPTS {
            server.port = spare_ports(1)?[0];
            match server.launch().await {
                Ok(()) => return Ok(server),
                Err(error) if attempt < START_ATTEMPTS && Exited::lost_its_port(&error) => continue,
                Err(error) => return Err(error),
            }
        }
        unreachable!("the last attempt returns")
    }

    fn data_directory(&self) -> PathBuf {
        self.directory.join("data")
    }

    fn log(&self) -> PathBuf {
        self.directory.join("postgres.log")
    }

    /// Starts the server process on `self.port` and waits until it answers.
    async fn launch(&mut self) -> anyhow::Result<()> {
        let data = self.data_directory().display().to_string();
        let arguments = vec![
            "-D".into(),
            data.clone(),
            "-p".into(),
            self.port.to_string(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            "-c".into(),
            format!("unix_socket_directories={}", self.directory.display()),
            "-c".into(),
            "fsync=off".into(),
            "-c".into(),
            "full_page_writes=off".into(),
            "-c".into(),
            "max_connections=60".into(),
            "-c".into(),
            "shared_buffers=16MB".into(),
        ];
        let launch = Launch {
            program: self.bin.join("postgres"),
            arguments,
            run_as: self.run_as,
            directory: self.directory.clone(),
            log: self.log(),
        };
        let mut process = launch.spawn()?;
        let url = self.url();
        let what = format!("Postgres on port {}", self.port);
        wait_ready(&what, &mut process, &launch.log, || {
            let (url, data) = (url.clone(), data.clone());
            async move {
                let mut connection = PgConnection::connect(&url).await?;
                let serving: String = sqlx::query_scalar("SHOW data_directory").fetch_one(&mut connection).await?;
                let _ = connection.close().await;
                // Someone else's server on a port we lost would answer too.
                anyhow::ensure!(serving == data, "port {url} is served from {serving}, not {data}");
                Ok(true)
            }
        })
        .await?;
        self.process = Some(process);
        Ok(())
    }

    /// Returns its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns its temporary directory (data, socket, log).
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Returns its URL (`postgres://postgres@127.0.0.1:PORT/postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Returns database settings pointing at it.
    pub fn database(&self) -> DatabaseSettings {
        DatabaseSettings { max_connections: 8, ..DatabaseSettings::for_url(&self.url()) }
    }

    /// Returns a pool on `schema` (created if missing), as a service has it.
    pub async fn pool(&self, schema: &str) -> anyhow::Result<PgPool> {
        gantry_runtime::postgres::connect(&self.database(), schema).await
    }

    /// True while its server process runs.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|process| process.exited().is_none())
    }

    /// Stops it cleanly (fast shutdown: clients are disconnected, open
    /// transactions rolled back, everything committed written).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut process) = self.process.take() else { return Ok(()) };
        if process.exited().is_none() {
            process.signal(Signal::SIGINT)?;
        }
        process.wait_exit(STOP_TIMEOUT).await.context("Postgres fast shutdown")?;
        Ok(())
    }

    /// Kills it and all its backends at once (SIGKILL): a crash. The next
    /// start recovers from the WAL.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill_group();
        }
    }

    /// Starts it again on the same port and data directory after a stop or
    /// a kill; returns once it accepts connections.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.is_running(), "Postgres on port {} is still running", self.port);
        self.process = None;
        // Backends of a killed server may take a moment to let go of the
        // shared memory the new one checks; a few attempts ride that out.
        let mut attempt = 1;
        loop {
            match self.launch().await {
                Ok(()) => return Ok(()),
                Err(error) if attempt < START_ATTEMPTS && error.downcast_ref::<Exited>().is_some() => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Stops it cleanly and starts it again.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.start_again().await
    }
}

impl Drop for PrivatePostgres {
    /// Kills the server and removes its directory.
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

// ---------------------------------------------------------------------------
// NATS

/// Finds `nats-server`: `GANTRY_TEST_NATS_SERVER`, else Debian's
/// `/usr/sbin/nats-server`, else `PATH`.
fn nats_server_binary() -> anyhow::Result<PathBuf> {
    if let Some(binary) = std::env::var_os("GANTRY_TEST_NATS_SERVER") {
        return Ok(PathBuf::from(binary));
    }
    Some(PathBuf::from("/usr/sbin/nats-server"))
        .filter(|binary| binary.is_file())
        .or_else(|| on_path("nats-server"))
        .context("nats-server not found in /usr/sbin or on PATH: install the Debian package nats-server")
}

/// Connects to one NATS server, without retrying.
async fn connect_once(url: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .connection_timeout(PROBE_TIMEOUT)
        .connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// Fails unless the server at `url` is `server_name` and its JetStream
/// answers (in a cluster: a meta leader was elected).
async fn nats_ready(url: String, server_name: String) -> anyhow::Result<bool> {
    let client = connect_once(&url).await?;
    let serving = client.server_info().server_name;
    anyhow::ensure!(serving == server_name, "{url} is served by {serving}, not {server_name}");
    // A raw request: async-nats 0.51's typed account info does not parse
    // what nats-server 2.9 answers.
    let response = client.request("$JS.API.INFO", "".into()).await.context("asking JetStream for account info")?;
    let answer = String::from_utf8_lossy(&response.payload);
    anyhow::ensure!(
        answer.contains("account_info_response") && !answer.contains("\"error\""),
        "JetStream is not ready: {answer}"
    );
    Ok(true)
}

/// One NATS server process and how to start it again.
#[derive(Debug)]
struct NatsNode {
    server_name: String,
    port: u16,
    launch: Launch,
    process: Option<ServerProcess>,
}

impl NatsNode {
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        self.process = Some(self.launch.spawn()?);
        Ok(())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let (url, name) = (self.url(), self.server_name.clone());
        let what = format!("nats-server {name} on port {}", self.port);
        let process = self.process.as_mut().context("not started")?;
        wait_ready(&what, process, &self.launch.log, || nats_ready(url.clone(), name.clone())).await
    }

    fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|process| process.exited().is_none())
    }

    async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut process) = self.process.take() else { return Ok(()) };
        if process.exited().is_none() {
            process.signal(Signal::SIGINT)?;
        }
        process.wait_exit(STOP_TIMEOUT).await.with_context(|| format!("stopping {}", self.server_name))?;
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill_group();
        }
    }

    async fn start_again(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.is_running(), "{} is still running", self.server_name);
        self.spawn()?;
        self.wait_ready().await
    }
}

/// A NATS server with JetStream of a test's own, on a spare loopback port,
/// its store in a temporary directory.
#[derive(Debug)]
pub struct PrivateNats {
    directory: PathBuf,
    node: NatsNode,
}

impl PrivateNats {
    /// Starts it; returns once its JetStream answers.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = nats_server_binary()?;
        let directory = fresh_directory("nats")?;
        let server_name = format!("private-{}", directory.file_name().unwrap_or_default().to_string_lossy());
        let launch = Launch {
            program: binary,
            arguments: Vec::new(),
            run_as: None,
            directory: directory.clone(),
            log: directory.join("nats-server.log"),
        };
        let mut server = Self { directory, node: NatsNode { server_name, port: 0, launch, process: None } };
        for attempt in 1..=START_ATTEMPTS {
            let port = spare_ports(1)?[0];
            server.node.port = port;
            server.node.launch.arguments = vec![
                "-js".into(),
                "-sd".into(),
                server.directory.join("store").display().to_string(),
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "-n".into(),
                server.node.server_name.clone(),
            ];
            server.node.spawn()?;
            match server.node.wait_ready().await {
                Ok(()) => return Ok(server),
                Err(error) if attempt < START_ATTEMPTS && Exited::lost_its_port(&error) => server.node.kill(),
                Err(error) => return Err(error),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Returns its URL (`nats://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.node.url()
    }

    /// Returns its port.
    pub fn port(&self) -> u16 {
        self.node.port
    }

    /// Returns its temporary directory (store, log).
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Returns its server name.
    pub fn server_name(&self) -> &str {
        &self.node.server_name
    }

    /// True while its server process runs.
    pub fn is_running(&mut self) -> bool {
        self.node.is_running()
    }

    /// Stops it cleanly (SIGINT).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.node.stop().await
    }

    /// Kills it (SIGKILL): a crash.
    pub fn kill(&mut self) {
        self.node.kill()
    }

    /// Starts it again on the same port and store; returns once its
    /// JetStream answers.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        self.node.start_again().await
    }

    /// Stops it cleanly and starts it again.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.start_again().await
    }
}

impl Drop for PrivateNats {
    /// Kills the server and removes its directory.
    fn drop(&mut self) {
        self.node.kill();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// Three NATS servers with JetStream, routed into one cluster on spare
/// loopback ports, each with a config file and a store of its own.
#[derive(Debug)]
pub struct NatsCluster {
    directory: PathBuf,
    name: String,
    nodes: Vec<NatsNode>,
}

/// How many nodes a [`NatsCluster`] has.
pub const CLUSTER_NODES: usize = 3;

impl NatsCluster {
    /// Starts the three nodes; returns once each one's JetStream answers
    /// and the cluster can place a stream on all three.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = nats_server_binary()?;
        let directory = fresh_directory("nats-cluster")?;
        let name = directory.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let mut cluster = Self { directory, name, nodes: Vec::new() };
        for attempt in 1..=START_ATTEMPTS {
            cluster.configure(&binary)?;
            match cluster.launch_all().await {
                Ok(()) => return Ok(cluster),
                Err(error) if attempt < START_ATTEMPTS && Exited::lost_its_port(&error) => {
                    cluster.nodes.iter_mut().for_each(NatsNode::kill);
                }
                Err(error) => return Err(error),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Picks ports and writes each node's config file.
    fn configure(&mut self, binary: &Path) -> anyhow::Result<()> {
        let ports = spare_ports(2 * CLUSTER_NODES)?;
        let (client_ports, route_ports) = ports.split_at(CLUSTER_NODES);
        self.nodes.clear();
        for node in 0..CLUSTER_NODES {
            let server_name = format!("{}-n{node}", self.name);
            let store = self.directory.join(format!("n{node}"));
            // A start tried again on new ports begins with empty stores.
            let _ = std::fs::remove_dir_all(&store);
            let routes: Vec<String> = (0..CLUSTER_NODES)
                .filter(|other| *other != node)
                .map(|other| format!("\"nats-route://127.0.0.1:{}\"", route_ports[other]))
                .collect();
            let config = format!(
                "server_name: \"{server_name}\"\nlisten: \"127.0.0.1:{client}\"\n\
                 jetstream {{\n  store_dir: \"{store}\"\n}}\n\
                 cluster {{\n  name: \"{cluster}\"\n  listen: \"127.0.0.1:{route}\"\n  routes: [{routes}]\n}}\n",
                client = client_ports[node],
                store = store.display(),
                cluster = self.name,
                route = route_ports[node],
                routes = routes.join(", "),
            );
            let config_file = self.directory.join(format!("n{node}.conf"));
            std::fs::write(&config_file, config).with_context(|| format!("writing {}", config_file.display()))?;
            let launch = Launch {
                program: binary.to_path_buf(),
                arguments: vec!["-c".into(), config_file.display().to_string()],
                run_as: None,
                directory: self.directory.clone(),
                log: self.directory.join(format!("n{node}.log")),
            };
            self.nodes.push(NatsNode { server_name, port: client_ports[node], launch, process: None });
        }
        Ok(())
    }

    async fn launch_all(&mut self) -> anyhow::Result<()> {
        for node in &mut self.nodes {
            node.spawn()?;
        }
        for node in &mut self.nodes {
            node.wait_ready().await?;
        }
        self.wait_for_placement().await
    }

    /// Waits until the cluster can place a stream on all its nodes: each
    /// node answering is not enough, the meta group must know every peer
    /// (a replicas=3 stream made too early is refused).
    async fn wait_for_placement(&self) -> anyhow::Result<()> {
        let client = async_nats::connect(self.url(0)).await.context("connecting to the cluster")?;
        let context = jetstream::new(client);
        let probe = jetstream::stream::Config {
            name: format!("PROBE_{}", self.name.replace(['-', '.'], "_")),
            subjects: vec![format!("probe.{}", self.name.replace('.', "_"))],
            num_replicas: CLUSTER_NODES,
            ..Default::default()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match context.create_stream(probe.clone()).await {
                Ok(_) => {
                    let _ = context.delete_stream(&probe.name).await;
                    return Ok(());
                }
                // Not yet: the meta group is still learning its peers.
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => return Err(error).context("the cluster never placed a replicated stream"),
            }
        }
    }

    /// Returns every node's URL, comma-separated (as `nats.url` takes a list).
    pub fn urls(&self) -> String {
        self.url_list().join(",")
    }

    /// Returns every node's URL.
    pub fn url_list(&self) -> Vec<String> {
        self.nodes.iter().map(NatsNode::url).collect()
    }

    /// Returns every node's address, for `ConnectOptions::connect`.
    pub fn server_addrs(&self) -> anyhow::Result<Vec<ServerAddr>> {
        self.url_list().iter().map(|url| url.parse().with_context(|| format!("parsing {url}"))).collect()
    }

    /// Returns one node's URL.
    pub fn url(&self, node: usize) -> String {
        self.nodes[node].url()
    }

    /// Returns one node's server name.
    pub fn server_name(&self, node: usize) -> &str {
        &self.nodes[node].server_name
    }

    /// Returns the node of a server name (as in stream info or `server_info`).
    pub fn node_of(&self, server_name: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.server_name == server_name)
    }

    /// Returns the node a client is connected to now.
    pub fn connected_node(&self, client: &async_nats::Client) -> Option<usize> {
        self.node_of(&client.server_info().server_name)
    }

    /// True while the node's server process runs.
    pub fn is_running(&mut self, node: usize) -> bool {
        self.nodes[node].is_running()
    }

    /// Stops one node cleanly (SIGINT).
    pub async fn stop(&mut self, node: usize) -> anyhow::Result<()> {
        self.nodes[node].stop().await
    }

    /// Kills one node (SIGKILL): a crash.
    pub fn kill(&mut self, node: usize) {
        self.nodes[node].kill()
    }

    /// Starts one node again on its ports and store; returns once its
    /// JetStream answers.
    pub async fn start_again(&mut self, node: usize) -> anyhow::Result<()> {
        self.nodes[node].start_again().await
    }

    /// Returns the node that leads `stream` (its RAFT group's leader, by the
    /// stream info's `cluster.leader`), waiting while it is being elected.
    pub async fn stream_leader(&mut self, stream: &str) -> anyhow::Result<usize> {
        let info = self.stream_cluster_info(stream, |cluster| cluster.leader.is_some()).await?;
        let leader = info.leader.unwrap_or_default();
        self.node_of(&leader).with_context(|| format!("stream {stream} is led by {leader}, not a node of this cluster"))
    }

    /// Waits until `stream` has a leader and every other replica is online
    /// and current (after a node came back, it has caught up).
    pub async fn wait_for_stream_replicas(&mut self, stream: &str) -> anyhow::Result<()> {
        self.stream_cluster_info(stream, |cluster| {
            cluster.leader.is_some()
                && cluster.replicas.len() == CLUSTER_NODES - 1
                && cluster.replicas.iter().all(|peer| peer.current && !peer.offline)
        })
        .await
        .map(|_| ())
    }

    /// Polls the stream info through any running node until `accept` likes
    /// its cluster part.
    async fn stream_cluster_info(
        &mut self,
        stream: &str,
        accept: impl Fn(&jetstream::stream::ClusterInfo) -> bool,
    ) -> anyhow::Result<jetstream::stream::ClusterInfo> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = None;
        loop {
            for node in 0..CLUSTER_NODES {
                if !self.is_running(node) {
                    continue;
                }
                let probe = async {
                    let client = connect_once(&self.url(node)).await?;
                    let mut context = jetstream::new(client);
                    context.set_timeout(PROBE_TIMEOUT);
                    let stream = context.get_stream(stream).await?;
                    anyhow::Ok(stream.cached_info().cluster.clone())
                };
                match tokio::time::timeout(PROBE_TIMEOUT * 2, probe).await {
                    Ok(Ok(Some(cluster))) if accept(&cluster) => return Ok(cluster),
                    Ok(Ok(cluster)) => last = Some(format!("{cluster:?}")),
                    Ok(Err(error)) => last = Some(format!("{error:#}")),
                    Err(_) => last = Some("no answer".into()),
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "stream {stream} not as wanted within {READY_TIMEOUT:?}; last seen: {}",
                last.unwrap_or_else(|| "no node running".into())
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for NatsCluster {
    /// Kills every node and removes the cluster's directory.
    fn drop(&mut self) {
        self.nodes.iter_mut().for_each(NatsNode::kill);
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}
