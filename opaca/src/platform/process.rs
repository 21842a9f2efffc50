//! Agent containers run as child processes: an image the host's settings map to a command
//! starts with OPACA's container environment on a free loopback port, and is polled on
//! `/info` until it answers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::model::AgentContainer;

/// What a container inherits from Warren's own environment: enough to find programs and
/// run them, and none of Warren's secrets.
const INHERITED: [&str; 4] = ["PATH", "HOME", "LANG", "TZ"];

/// Whether an image parameter may become an environment variable of a process: a plain
/// name that is neither one Warren sets nor one that changes how a loader, shell or
/// interpreter starts (a container runs with Warren's user, not in a sandbox).
pub fn allowed_variable(name: &str) -> bool {
    const RESERVED: [&str; 9] = [
        "CONTAINER_ID",
        "PLATFORM_URL",
        "TOKEN",
        "OWNER",
        "PORT",
        "PORT_MAPPING",
        "IFS",
        "SHELLOPTS",
        "BROWSER",
    ];
    const PREFIXES: [&str; 14] = [
        "LD_", "DYLD_", "PYTHON", "BASH", "ENV", "PERL", "RUBY", "NODE_", "JAVA", "_JAVA", "JDK_",
        "GCONV", "MALLOC", "PS4",
    ];
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let upper = name.to_ascii_uppercase();
    plain
        && !RESERVED.contains(&upper.as_str())
        && !INHERITED.contains(&upper.as_str())
        && !PREFIXES.iter().any(|p| upper.starts_with(p))
}

/// A running process container.
pub struct ProcessContainer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The loopback port it listens on (its `PORT`).
    pub port: u16,
    /// The pid of the process group's leader.
    pid: u32,
    child: tokio::sync::Mutex<Option<Child>>,
}

/// Why a process container did not come up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No free port, or the shell could not be started.
    #[error("cannot start {command:?}: {reason}")]
    Spawn {
        /// The image's command.
        command: String,
        /// The operating system's error.
        reason: String,
    },
    /// The process ended before its `/info` answered: its exit status.
    #[error("the container exited with {0} before answering /info")]
    Exited(String),
    /// `/info` did not answer within the start timeout.
    #[error("the container did not answer /info within {0:?}")]
    Timeout(Duration),
    /// `/info` answered with something other than an `AgentContainer`: the decoding error.
    #[error("the container's /info is not an AgentContainer: {0}")]
    BadInfo(String),
}

/// A free loopback port (the container binds it right after).
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl ProcessContainer {
    /// Start `command` (through `sh -c`) with `env`, and wait until its `/info` answers.
    pub async fn start(
        command: &str,
        api_port: u16,
        mut env: BTreeMap<String, String>,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<(ProcessContainer, AgentContainer), StartError> {
        let spawn_error = |reason: String| StartError::Spawn {
            command: command.to_string(),
            reason,
        };
        let port = free_port().map_err(|e| spawn_error(e.to_string()))?;
        env.insert("PORT".into(), port.to_string());
        env.insert("PORT_MAPPING".into(), format!("{api_port}:{port}"));
        let inherited = INHERITED
            .iter()
            .filter_map(|name| Some((*name, std::env::var(name).ok()?)));
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .env_clear()
            .envs(inherited)
            .envs(&env)
            .stdin(std::process::Stdio::null())
            // Its own process group, so stopping it stops whatever it started.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| spawn_error(e.to_string()))?;
        let container = ProcessContainer {
            url: format!("http://127.0.0.1:{port}"),
            port,
            pid: child.id().unwrap_or_default(),
            child: tokio::sync::Mutex::new(Some(child)),
        };
        match container.wait_for_info(client, timeout).await {
            Ok(info) => Ok((container, info)),
            Err(e) => {
                container.stop().await;
                Err(e)
            }
        }
    }

    async fn wait_for_info(
        &self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> Result<AgentContainer, StartError> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.lock().await.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(StartError::Exited(status.to_string()));
            }
            match self.info(client).await {
                Ok(info) => return Ok(info),
                Err(InfoError::Bad(e)) => return Err(StartError::BadInfo(e)),
                Err(InfoError::Unreachable) if Instant::now() >= until => {
                    return Err(StartError::Timeout(timeout));
                }
                Err(InfoError::Unreachable) => {}
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The container's current `/info`.
    pub async fn info(&self, client: &reqwest::Client) -> Result<AgentContainer, InfoError> {
        let response = client
            .get(format!("{}/info", self.url))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|_| InfoError::Unreachable)?;
        if !response.status().is_success() {
            return Err(InfoError::Unreachable);
        }
        response
            .json::<AgentContainer>()
            .await
            .map_err(|e| InfoError::Bad(e.to_string()))
    }

    /// Stop the process: SIGTERM, then SIGKILL if it lingers.
    pub async fn stop(&self) {
        let Some(mut child) = self.child.lock().await.take() else {
            return;
        };
        // The group is the leader's pid, taken at spawn: the leader may be reaped already.
        let group = format!("-{}", self.pid);
        let signal = |name: &'static str| {
            let group = group.clone();
            async move {
                // A group already gone is the usual case for the second signal.
                let _ = Command::new("kill")
                    .args([name, "--", &group])
                    .stderr(std::process::Stdio::null())
                    .status()
                    .await;
            }
        };
        // Ask politely first so the container can shut down cleanly.
        signal("-TERM").await;
        let _ = tokio::time::timeout(Duration::from_secs(3), child.wait()).await;
        // Whatever is left of the group (processes the container started) goes too.
        signal("-KILL").await;
        let _ = child.kill().await;
    }
}

/// Why `/info` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    /// No answer, or not a success.
    #[error("the container does not answer /info")]
    Unreachable,
    /// An answer that is not an `AgentContainer`.
    #[error("the container's /info is not an AgentContainer: {0}")]
    Bad(String),
}
