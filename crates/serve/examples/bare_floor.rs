//! The floor `scripts/bench-serve.sh` measures vigil against: a bare actix-web server with the
//! same runtime settings and no model, validation, metrics or logging. `GET /health` answers
//! the bytes of vigil's own `/health`; `POST /predict` parses the JSON body (as any JSON API
//! must) and answers the bytes of a real vigil `/predict` answer, so both sides answer the same
//! bodies and the ratio is the cost of what vigil does on top.
//!
//! With `--vigil-headers`, every answer also carries the headers vigil adds to each of its own
//! (the security headers and a numbered request id), so the ratio against it leaves out the
//! cost of sending them.
//!
//! Usage: `bare_floor HEALTH_BODY_FILE PREDICT_BODY_FILE [--vigil-headers]` (listens on
//! 127.0.0.1, a port the OS picks, one worker; prints `listening on http://ADDRESS` like
//! `serve`).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};

/// Answers `body` as JSON, with vigil's per-response headers when `request_ids` is given (the
/// counter that numbers requests, as vigil's request log does).
fn answer(body: web::Bytes, request_ids: Option<&AtomicU64>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.content_type("application/json");
    if let Some(request_ids) = request_ids {
        let request_id = request_ids.fetch_add(1, Ordering::Relaxed).to_string();
        response
            .insert_header(("x-content-type-options", "nosniff"))
            .insert_header(("x-frame-options", "DENY"))
            .insert_header(("referrer-policy", "no-referrer"))
            .insert_header(("x-request-id", request_id));
    }
    response.body(body)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(health_path), Some(predict_path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: bare_floor HEALTH_BODY_FILE PREDICT_BODY_FILE [--vigil-headers]");
        std::process::exit(2);
    };
    let request_ids = match args.get(2).map(String::as_str) {
        None => None,
        Some("--vigil-headers") => Some(Arc::new(AtomicU64::new(1))),
        Some(other) => {
            eprintln!("bare_floor: unknown option `{other}` (expected `--vigil-headers`)");
            std::process::exit(2);
        }
    };
    let health = web::Bytes::from(std::fs::read(health_path)?);
    let predict = web::Bytes::from(std::fs::read(predict_path)?);
    let server = HttpServer::new(move || {
        let (health, predict) = (health.clone(), predict.clone());
        let (health_ids, predict_ids) = (request_ids.clone(), request_ids.clone());
        App::new()
            .route(
                "/health",
                web::get().to(move || {
                    let response = answer(health.clone(), health_ids.as_deref());
                    async move { response }
                }),
            )
            .route(
                "/predict",
                web::post().to(move |body: web::Bytes| {
                    let response = match serde_json::from_slice::<serde_json::Value>(&body) {
                        Ok(_) => answer(predict.clone(), predict_ids.as_deref()),
                        Err(_) => HttpResponse::UnprocessableEntity().finish(),
                    };
                    async move { response }
                }),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let mut stdout = std::io::stdout();
    for address in server.addrs() {
        let _ = writeln!(stdout, "listening on http://{address}");
    }
    let _ = stdout.flush();
    actix_web::rt::System::new().block_on(server.run())
}
