//! Actors that misbehave on purpose, for Warren's tests. One component, several types.

use warren_guest::prelude::*;

struct Hostile;

impl Actor for Hostile {
    fn manifest() -> Manifest {
        Manifest::new("hostile")
            .with_type(ActorType::new("looper").actions(["spin"]))
            .with_type(ActorType::new("bomb").actions(["grow"]))
            .with_type(ActorType::new("trapper").actions(["write-then-trap", "write", "read"]))
            .with_type(ActorType::new("sleeper").actions(["sleep", "slow-count"]))
            .with_type(ActorType::new("caller").actions(["call", "cast", "count"]))
            .with_type(ActorType::new("chatty").actions(["print", "spam", "metadata"]))
            .with_type(ActorType::new("prober").actions([
                "probe",
                "turns",
                "trap",
                "fail",
                "huge-reply",
            ]))
            // The same probe under each instance strategy the component can choose.
            .with_type(ActorType::new("fresh-prober").actions(["turns"]))
            .with_type(ActorType::new("kept-prober").actions(["turns"]))
            .with_type(ActorType::new("reused-prober").actions(["turns"]))
            .with_type(ActorType::new("glutton").actions(["overflow", "huge-reply", "fill"]))
            .with_type(ActorType::new("ticker").actions(["arm", "disarm", "count", "last"]))
            .with_type(
                ActorType::new("echo")
                    .reentrancy(32)
                    .actions(["bounce", "recurse"]),
            )
    }

    fn instance_strategies() -> Vec<(String, InstanceStrategy)> {
        vec![
            ("fresh-prober".into(), InstanceStrategy::Fresh),
            ("kept-prober".into(), InstanceStrategy::Kept),
            ("reused-prober".into(), InstanceStrategy::Reused),
        ]
    }

    fn handle(ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        match ctx.target.actor_type.as_str() {
            "ticker" => return ticker(ctx, action, payload),
            "echo" => return echo(ctx, action, payload),
            _ => {}
        }
        match action {
            "spin" => {
                // An endless loop the optimiser cannot remove.
                let mut x: u64 = 1;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "grow" => {
                // Allocate 1 MiB chunks and touch them until the memory limit stops us.
                let mut chunks: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = vec![0u8; 1 << 20];
                    chunk[0] = 1;
                    chunks.push(std::hint::black_box(chunk));
                }
            }
            "write-then-trap" => {
                state::set("value", payload);
                state::delete("keep");
                panic!("trapping after a state write");
            }
            "write" => {
                state::set("value", payload);
                state::set("keep", b"yes");
                Ok(Vec::new())
            }
            "read" => Ok(state::get("value").unwrap_or_default()),
            "sleep" => {
                let ms: u64 = json(payload)?;
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(b"\"slept\"".to_vec())
            }
            "slow-count" => {
                // payload: milliseconds to sleep before counting; then a cast to the
                // counter of the same id, sent once the count is committed.
                let ms: u64 = json(payload)?;
                std::thread::sleep(std::time::Duration::from_millis(ms));
                let count = state::get_json::<i64>("count")?.unwrap_or(0) + 1;
                state::set_json("count", &count)?;
                actors::cast(&actors::actor("counter", &ctx.target.id), "add", b"1")?;
                to_json(&count)
            }
            "call" | "cast" => {
                // payload: {"type": "...", "id": "...", "action": "...", "payload": <json>}
                let req: serde_json::Value = json(payload)?;
                let field = |k: &str| req[k].as_str().unwrap_or_default().to_string();
                let target = actors::actor(&field("type"), &field("id"));
                let inner = serde_json::to_vec(&req["payload"]).unwrap_or_default();
                if action == "call" {
                    actors::call(&target, &field("action"), &inner)
                } else {
                    let count: i64 = state::get_json("casts")?.unwrap_or(0);
                    state::set_json("casts", &(count + 1))?;
                    actors::cast(&target, &field("action"), &inner).map(|()| b"null".to_vec())
                }
            }
            "count" => to_json(&state::get_json::<i64>("casts")?.unwrap_or(0)),
            "probe" => to_json(&probe()),
            // Turns this instance has served: shows whether an instance outlives a turn.
            "turns" => {
                static TURNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                to_json(&(TURNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1))
            }
            "trap" => panic!("trapping on request"),
            "fail" => Err(Error::Failed("failing on request".into())),
            "overflow" => {
                #[allow(unconditional_recursion)]
                fn dive(n: u64) -> u64 {
                    std::hint::black_box(dive(std::hint::black_box(n + 1))) + 1
                }
                to_json(&dive(0))
            }
            "huge-reply" => {
                let mb: usize = json(payload)?;
                Ok(vec![b'x'; mb << 20])
            }
            "fill" => {
                // payload: {"key": "...", "bytes": n}
                let req: serde_json::Value = json(payload)?;
                let key = req["key"].as_str().unwrap_or("k").to_string();
                let bytes = req["bytes"].as_u64().unwrap_or(0) as usize;
                state::set(&key, &vec![b'.'; bytes]);
                Ok(b"null".to_vec())
            }
            "spam" => {
                let lines: u64 = json(payload)?;
                for i in 0..lines {
                    println!(
                        "spam line {i} ................................................................"
                    );
                }
                Ok(b"null".to_vec())
            }
            // The metadata keys the turn was given.
            "metadata" => {
                let keys: Vec<&str> = ctx.metadata.iter().map(|(k, _)| k.as_str()).collect();
                to_json(&keys)
            }
            "print" => {
                let text = String::from_utf8_lossy(payload);
                println!("{text}");
                eprintln!("err: {text}");
                Ok(Vec::new())
            }
            other => Err(Error::NotFound(other.to_string())),
        }
    }
}

/// Tries everything the sandbox should refuse, and what it should allow.
fn probe() -> serde_json::Value {
    use std::hash::BuildHasher;
    let read_root = std::fs::read_dir("/")
        .map(|_| "allowed")
        .unwrap_or("refused");
    let read_file = std::fs::read("/etc/passwd")
        .map(|_| "allowed")
        .unwrap_or("refused");
    let write_file = std::fs::write("escape.txt", b"x")
        .map(|_| "allowed")
        .unwrap_or("refused");
    let tcp = std::net::TcpStream::connect("127.0.0.1:22")
        .map(|_| "allowed")
        .unwrap_or("refused");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")
        .map(|_| "allowed")
        .unwrap_or("refused");
    let dns = std::net::ToSocketAddrs::to_socket_addrs("localhost:80")
        .map(|_| "allowed")
        .unwrap_or("refused");
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    let args: Vec<String> = std::env::args().collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let random = std::collections::hash_map::RandomState::new().hash_one(42u64);
    serde_json::json!({
        "read_dir": read_root, "read_file": read_file, "write_file": write_file,
        "tcp": tcp, "udp": udp, "dns": dns,
        "env": env, "args": args, "unix_time": now, "random": random.to_string(),
    })
}

/// Sets timers and reminders on request, and counts every firing by name.
fn ticker(ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let field = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    match (action, &ctx.trigger) {
        ("arm", Trigger::Call) => {
            let req: serde_json::Value = json(payload)?;
            let data = serde_json::to_vec(&req["data"]).unwrap_or_default();
            let (name, due, period, ttl) = (
                field(&req, "name"),
                field(&req, "due"),
                field(&req, "period"),
                field(&req, "ttl"),
            );
            if field(&req, "kind") == "timer" {
                schedule::set_timer(&name, &due, &period, &ttl, &data)?;
            } else {
                schedule::set_reminder(&name, &due, &period, &ttl, &data)?;
            }
            Ok(b"null".to_vec())
        }
        ("disarm", Trigger::Call) => {
            let name: String = json(payload)?;
            schedule::cancel_timer(&name);
            schedule::cancel_reminder(&name);
            Ok(b"null".to_vec())
        }
        ("count", Trigger::Call) => {
            let name: String = json(payload)?;
            to_json(&state::get_json::<i64>(&format!("count:{name}"))?.unwrap_or(0))
        }
        ("last", Trigger::Call) => {
            let name: String = json(payload)?;
            Ok(state::get(&format!("last:{name}")).unwrap_or_else(|| b"null".to_vec()))
        }
        (_, Trigger::Timer(fired) | Trigger::Reminder(fired)) => {
            let kind = if matches!(ctx.trigger, Trigger::Timer(_)) {
                "timer"
            } else {
                "reminder"
            };
            let key = format!("count:{action}");
            let count = state::get_json::<i64>(&key)?.unwrap_or(0) + 1;
            state::set_json(&key, &count)?;
            let last = serde_json::json!({
                "kind": kind,
                "name": fired.name,
                "data": String::from_utf8_lossy(&fired.data),
                "payload": String::from_utf8_lossy(payload),
            });
            state::set_json(&format!("last:{action}"), &last)?;
            Ok(Vec::new())
        }
        (other, _) => Err(Error::NotFound(other.to_string())),
    }
}

/// A reentrant actor: `bounce` follows a path of echo actors, `recurse` calls itself.
fn echo(ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
    match action {
        "bounce" => {
            let mut path: Vec<String> = json(payload)?;
            if path.is_empty() {
                return to_json(&format!("done at {}", ctx.target.id));
            }
            let next = path.remove(0);
            actors::call(&actors::actor("echo", &next), "bounce", &to_json(&path)?)
        }
        "recurse" => {
            let n: u32 = json(payload)?;
            if n == 0 {
                return to_json(&0);
            }
            let below: u32 = json(&actors::call(&ctx.target, "recurse", &to_json(&(n - 1))?)?)?;
            to_json(&(below + 1))
        }
        "hold" => {
            // Nest `depth` more turns of this actor, then sleep `ms` at the bottom.
            let req: serde_json::Value = json(payload)?;
            let depth = req["depth"].as_u64().unwrap_or(0);
            let ms = req["ms"].as_u64().unwrap_or(0);
            if depth == 0 {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                return to_json(&"held");
            }
            let inner = serde_json::json!({"depth": depth - 1, "ms": ms});
            actors::call(&ctx.target, "hold", &to_json(&inner)?)
        }
        other => Err(Error::NotFound(other.to_string())),
    }
}

warren_guest::actor!(Hostile);
