//! Reading a data dir with the reader running on the control node and every file access a
//! shell command on the host: the reader runs on a blocking thread, and each of its commands
//! goes through a channel to the task that owns the host's connection.

use std::sync::atomic::{AtomicUsize, Ordering};

use etcdplay_etcd::{
    read_data_dir, BackendUse, CommandSource, DataDirError, ReadOptions, SourceError,
};
use etcdplay_transport::{Become, ExecRequest, Transport, TransportError};
use tokio::sync::{mpsc, oneshot};

use super::{RemoteRead, BLOCK_SIZE};

/// Why one of the reader's commands gave no bytes; its message becomes the read's error.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error("the engine stopped serving the reader")]
    NotServed,
    #[error("the engine dropped a read")]
    Dropped,
    #[error("exit code {rc}: {stderr}")]
    Exit { rc: i32, stderr: String },
    #[error(transparent)]
    Transport(TransportError),
}

/// One command of the reader and where its answer goes.
type Request = (String, oneshot::Sender<Result<Vec<u8>, CommandError>>);

/// Reads the data dir with the reader running here and each file access a shell command.
pub(super) async fn read_with_commands(
    transport: &dyn Transport,
    become_: Option<&Become>,
    data_dir: &str,
    wal_dir: Option<&str>,
) -> RemoteRead {
    let (tx, mut rx) = mpsc::channel::<Request>(1);
    let options = ReadOptions {
        wal_dir: wal_dir.map(str::to_string),
        backend: BackendUse::CrossCheck,
        block_size: BLOCK_SIZE,
    };
    let root = data_dir.to_string();
    let reader = tokio::task::spawn_blocking(move || {
        let runner = move |command: &str| -> Result<Vec<u8>, CommandError> {
            let (reply_tx, reply_rx) = oneshot::channel();
            tx.blocking_send((command.to_string(), reply_tx))
                .map_err(|_| CommandError::NotServed)?;
            reply_rx
                .blocking_recv()
                .map_err(|_| CommandError::Dropped)?
        };
        let source = CommandSource::new(runner, root);
        read_data_dir(&source, &options)
    });
    let round_trips = AtomicUsize::new(0);
    // Serve the reader's commands until it finishes (it drops the sender with the source).
    while let Some((command, reply)) = rx.recv().await {
        round_trips.fetch_add(1, Ordering::Relaxed);
        let request = ExecRequest {
            script: command,
            become_: become_.cloned(),
            ..ExecRequest::default()
        };
        // The reader's `find`/`dd` only read the data dir.
        let out = match transport.exec_reading(request).await {
            Ok(o) if o.rc == 0 => Ok(o.stdout),
            Ok(o) => Err(CommandError::Exit {
                rc: o.rc,
                stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
            }),
            Err(e) => Err(CommandError::Transport(e)),
        };
        let _ = reply.send(out);
    }
    let result = match reader.await {
        Ok(r) => r,
        Err(e) => Err(DataDirError::Source {
            path: data_dir.to_string(),
            source: SourceError::Remote(format!("the reader thread failed: {e}")),
        }),
    };
    RemoteRead {
        result,
        round_trips: round_trips.load(Ordering::Relaxed),
        reader: "commands",
        fallback: None,
    }
}
