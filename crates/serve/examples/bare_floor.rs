//! The floor `scripts/bench-serve.sh` measures vigil against: a bare actix-web server with the
//! same runtime settings and no model, validation, metrics or logging. `GET /health` answers
//! the bytes of vigil's own `/health`; `POST /predict` parses the JSON body (as any JSON API
//! must) and answers the bytes of a real vigil `/predict` answer, so both sides move the same
//! bytes and the ratio is the cost of what vigil does on top.
//!
//! Usage: `bare_floor HEALTH_BODY_FILE PREDICT_BODY_FILE` (listens on 127.0.0.1, a port the OS
//! picks, one worker; prints `listening on http://ADDRESS` like `serve`).

use std::io::Write as _;

use actix_web::{App, HttpResponse, HttpServer, web};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(health_path), Some(predict_path)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_floor HEALTH_BODY_FILE PREDICT_BODY_FILE");
        std::process::exit(2);
    };
    let health = web::Bytes::from(std::fs::read(&health_path)?);
    let predict = web::Bytes::from(std::fs::read(&predict_path)?);
    let server = HttpServer::new(move || {
        let (health, predict) = (health.clone(), predict.clone());
        App::new()
            .route(
                "/health",
                web::get().to(move || {
                    let body = health.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                }),
            )
            .route(
                "/predict",
                web::post().to(move |body: web::Bytes| {
                    let answer = predict.clone();
                    async move {
                        match serde_json::from_slice::<serde_json::Value>(&body) {
                            Ok(_) => HttpResponse::Ok()
                                .content_type("application/json")
                                .body(answer),
                            Err(_) => HttpResponse::UnprocessableEntity().finish(),
                        }
                    }
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
