//! Crash safety of the feedback log: a child process appends events and
//! acknowledges each one on stdout; the parent kills it (SIGKILL) mid-stream
//! and checks that reopening loses no acknowledged event.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use ruvector_gnn_search::{FeedbackEvent, FeedbackLog, SyncPolicy};

const CHILD_ENV: &str = "RVGNN_CRASH_CHILD_LOG";

fn event(i: u64) -> FeedbackEvent {
    FeedbackEvent {
        query: (0..64).map(|k| (i * 64 + k) as f32 * 0.001).collect(),
        shown: (i..i + 10).collect(),
        chosen: vec![i + 3],
        grades: None,
    }
}

/// In the child: append forever, printing `ack <i>` after each durable append.
fn child(path: &str) -> ! {
    let (mut log, existing, _) = FeedbackLog::open(path, SyncPolicy::Always).expect("open");
    let mut out = std::io::stdout().lock();
    let mut i = existing.len() as u64;
    loop {
        log.append(&event(i)).expect("append");
        writeln!(out, "ack {i}").expect("stdout");
        out.flush().expect("flush");
        i += 1;
    }
}

#[test]
fn killed_writer_loses_no_acknowledged_event() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(&path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feedback.log");
    let mut acked_total = 0u64;
    // Several kill points: after 1, 17 and 60 acknowledged events per round.
    for (round, stop_after) in [1u64, 17, 60].into_iter().enumerate() {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "killed_writer_loses_no_acknowledged_event",
                "--nocapture",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut last = None;
        let mut seen = 0;
        while seen < stop_after {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(n) = line.strip_prefix("ack ") {
                last = Some(n.parse::<u64>().unwrap());
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix: no destructors, no flush.
        child.wait().unwrap();
        let last = last.unwrap_or_else(|| panic!("round {round}: child acknowledged nothing"));
        acked_total = acked_total.max(last + 1);
        let (_, events, recovery) = FeedbackLog::open(&path, SyncPolicy::Always).unwrap();
        assert!(
            events.len() as u64 >= acked_total,
            "round {round}: {} events survive but {acked_total} were acknowledged ({recovery:?})",
            events.len()
        );
        for (i, e) in events.iter().enumerate() {
            assert_eq!(*e, event(i as u64), "round {round}: event {i} differs");
        }
        acked_total = events.len() as u64;
    }
}
