# The commands a user types (CONTRACT §7). Broker and database run on loopback with their
# data under .run/, started by scripts/infra.sh.
SHELL := /bin/bash
.DEFAULT_GOAL := help

RUN := .run
RAW_BENCH := $(RUN)/bin/amqp-raw-bench

INVENTORY ?= 1
API ?= 1
CLUSTER ?=
RELEASE ?=
QUICK ?=
SERVICE ?=

.PHONY: help infra infra-stop build test up down logs bench bench-amqp

help:
	@echo "make test                start RabbitMQ and PostgreSQL if needed, then swift test"
	@echo "make up [INVENTORY=3] [API=2] [CLUSTER=3] [RELEASE=1]  start broker (or a cluster), database and every service that is not running"
	@echo "make down                stop what make up started"
	@echo "make logs [SERVICE=...]  follow the service logs"
	@echo "make bench [INVENTORY=N] [QUICK=1]  the benchmark: ingest, end to end, scaling, the broker's limit"
	@echo "make bench-amqp          AMQPClient against plain librabbitmq on the local broker"

infra:
	@scripts/infra.sh start

infra-stop:
	@scripts/infra.sh stop

test: infra
	@scripts/infra.sh install-test-tools
	swift build --build-tests
	@mkdir -p $(RUN)
	@set -o pipefail; swift test --skip-build --no-parallel 2>&1 | tee $(RUN)/test-output.log || { \
	  echo; echo "What failed (all of it is in $(RUN)/test-output.log):"; \
	  grep -E -A3 'recorded an issue|error:' $(RUN)/test-output.log; exit 1; }

build:
	swift build

# Debug builds by default (the quicker first build); RELEASE=1 runs release builds, about three
# times faster per order: the speed `make bench` reports. CLUSTER=3 runs a RabbitMQ cluster of
# three nodes (5672, 5673, 5674) instead of one broker; API=2 runs two order-api replicas
# (8111, 8121) behind a balancer on 8101.
ifeq ($(CLUSTER),)
BROKER_SETUP := scripts/infra.sh start
else
BROKER_SETUP := scripts/infra.sh start postgres && RABBITMQ_CLUSTER_PORT=5672 scripts/infra.sh cluster start $(CLUSTER)
export RABBITMQ_URL := $(shell for n in $$(seq 0 $$(($(CLUSTER) - 1))); do printf 'amqp://guest:guest@127.0.0.1:%s/%%2f,' $$((5672 + n)); done | sed 's/,$$//')
endif
BIN := $(if $(RELEASE),.build/release,.build/debug)

up:
	@$(BROKER_SETUP)
	swift build $(if $(RELEASE),-c release)
	@BIN=$(BIN) scripts/services.sh up $(INVENTORY) $(API)

down:
	@scripts/services.sh down
	@scripts/infra.sh stop

logs:
	@scripts/services.sh logs $(SERVICE)

bench: infra
	@INVENTORY=$(INVENTORY) QUICK=$(QUICK) bench/run.sh

$(RAW_BENCH): bench/raw/amqp-raw-bench.c
	@mkdir -p $(dir $@)
	cc -O2 -Wall -o $@ $< -lrabbitmq

bench-amqp: infra $(RAW_BENCH)
	swift build -c release --product amqp-bench
	@echo "--- plain librabbitmq (the broker's limit here)"
	@$(RAW_BENCH) $${MESSAGES:-100000} 200
	@echo "--- AMQPClient"
	@.build/release/amqp-bench $${MESSAGES:-100000} 200
