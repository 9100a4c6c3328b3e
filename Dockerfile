# One image for every fudian service: `fudian up` runs them all, `fudian serve NAME` one.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p fudian

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/fudian /usr/local/bin/fudian
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fudian"]
CMD ["up"]
