//! `pcaplens mcp --http ADDR`: the streamable HTTP transport at `/mcp`.
//! Loopback only unless `--allow-remote` (which needs a bearer token);
//! browser Origins refused unless allowed (DNS rebinding, cross-site calls);
//! the Host header checked against the bound address.

use super::tools::{PcapServer, State};
use super::McpArgs;
use anyhow::{Context, Result};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;

/// The HTTP options, checked before anything starts: the bearer token,
/// if any. `Err` is a usage error.
pub fn check(addr: SocketAddr, args: &McpArgs) -> Result<Option<String>, String> {
    if !addr.ip().is_loopback() && !args.allow_remote {
        return Err(format!(
            "--http {addr} is not a loopback address: pass --allow-remote with --token-file to serve other machines"
        ));
    }
    match &args.token_file {
        Some(p) => {
            let t = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read --token-file {}: {e}", p.display()))?;
            let t = t.trim().to_string();
            if t.len() < 16 {
                return Err(format!(
                    "--token-file {}: the token must be at least 16 characters",
                    p.display()
                ));
            }
            Ok(Some(t))
        }
        None if args.allow_remote => {
            Err("--allow-remote needs --token-file (a bearer token)".into())
        }
        None => Ok(None),
    }
}

pub async fn serve(
    state: Arc<State>,
    addr: SocketAddr,
    token: Option<String>,
    args: &McpArgs,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_origins(args.allow_origin.clone())
        // An empty list refuses every request that carries an Origin: only
        // the origins given are trusted, never a web page by default.
        .enforce_origin_validation();
    if args.allow_remote {
        // Remote clients name the server by its public name; the token guards it.
        config = config.disable_allowed_hosts();
    } else {
        config = config.with_allowed_hosts([
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
            "[::1]".to_string(),
            format!("localhost:{}", bound.port()),
            format!("127.0.0.1:{}", bound.port()),
            format!("[::1]:{}", bound.port()),
        ]);
    }
    let service = StreamableHttpService::new(
        move || Ok(PcapServer::new(state.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let token = Arc::new(token);
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let token = token.clone();
                async move { check_token(token.as_deref(), req, next).await }
            },
        ));
    eprintln!("pcaplens mcp: listening on http://{bound}/mcp");
    axum::serve(listener, app).await.context("HTTP server")?;
    Ok(())
}

/// With a token configured, every request must carry it (compared in
/// constant time, so its bytes cannot be guessed one by one).
async fn check_token(token: Option<&str>, req: Request, next: Next) -> Response {
    if let Some(want) = token {
        let got = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let same = got.len() == want.len()
            && got
                .bytes()
                .zip(want.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "missing or wrong bearer token",
            )
                .into_response();
        }
    }
    next.run(req).await
}
