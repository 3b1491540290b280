# syntax=docker/dockerfile:1
# The ecs-operator image: the release binary on distroless (glibc, CA certificates,
# no shell), running as the non-root user 65532.
#   docker build -t ecs-operator:dev .
# The Rust version is the one the crate is tested with (Cargo.lock needs a recent one).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The workspace's dev tools and benchmark: cargo needs every member's manifest (only the
# operator is built).
COPY tools ./tools
COPY bench ./bench
# Cache mounts keep the registry and build artifacts between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ecs-operator \
 && cp target/release/ecs-operator /ecs-operator \
 && /ecs-operator version

# Debian 12 like the build stage, so the binary's glibc matches.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /ecs-operator /ecs-operator
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/ecs-operator"]
CMD ["run"]
