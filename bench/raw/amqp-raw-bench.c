// The broker's own limit as plain librabbitmq sees it: persistent 200-byte messages
// published with confirms (a window of IN_FLIGHT outstanding) and consumed with one ack
// each, on one connection. amqp-bench runs the same workload through AMQPClient.
//
//   cc -O2 -o amqp-raw-bench amqp-raw-bench.c -lrabbitmq
//   amqp-raw-bench [messages] [in-flight] [quorum|classic]
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die_on(amqp_rpc_reply_t reply, const char *what) {
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    fprintf(stderr, "amqp-raw-bench: %s failed (reply type %d)\n", what, reply.reply_type);
    exit(1);
  }
}

int main(int argc, char **argv) {
  int messages = argc > 1 ? atoi(argv[1]) : 100000;
  int in_flight = argc > 2 ? atoi(argv[2]) : 200;
  const char *queue_type = argc > 3 ? argv[3] : "quorum";
  const char *host = getenv("RABBITMQ_HOST") ? getenv("RABBITMQ_HOST") : "127.0.0.1";

  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t *socket = amqp_tcp_socket_new(conn);
  if (amqp_socket_open(socket, host, 5672) != AMQP_STATUS_OK) {
    fprintf(stderr, "amqp-raw-bench: cannot connect to %s:5672\n", host);
    return 1;
  }
  die_on(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
  amqp_channel_open(conn, 1);
  die_on(amqp_get_rpc_reply(conn), "channel.open");

  char queue_name[64];
  snprintf(queue_name, sizeof queue_name, "amqp-raw-bench-%d", (int)getpid());
  amqp_bytes_t queue = amqp_cstring_bytes(queue_name);
  amqp_table_entry_t entry = {.key = amqp_cstring_bytes("x-queue-type"),
                              .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                        .value.bytes = amqp_cstring_bytes(queue_type)}};
  amqp_table_t args = {.num_entries = 1, .entries = &entry};
  amqp_queue_declare(conn, 1, queue, 0, 1, 0, 0, args);
  die_on(amqp_get_rpc_reply(conn), "queue.declare");
  amqp_confirm_select(conn, 1);
  die_on(amqp_get_rpc_reply(conn), "confirm.select");

  char payload[200];
  memset(payload, 'x', sizeof payload);
  amqp_bytes_t body = {.len = sizeof payload, .bytes = payload};
  amqp_basic_properties_t props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2};

  double start = now();
  long published = 0, confirmed = 0;
  while (confirmed < messages) {
    while (published < messages && published - confirmed < in_flight) {
      amqp_basic_publish(conn, 1, amqp_empty_bytes, queue, 0, 0, &props, body);
      published++;
    }
    amqp_frame_t frame;
    if (amqp_simple_wait_frame(conn, &frame) != AMQP_STATUS_OK) return 1;
    if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      amqp_basic_ack_t *ack = frame.payload.method.decoded;
      confirmed = ack->multiple ? (long)ack->delivery_tag : confirmed + 1;
    }
    amqp_maybe_release_buffers(conn);
  }
  double publish_rate = messages / (now() - start);

  amqp_basic_qos(conn, 1, 0, in_flight, 0);
  amqp_basic_consume(conn, 1, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  die_on(amqp_get_rpc_reply(conn), "basic.consume");
  start = now();
  for (int i = 0; i < messages; i++) {
    amqp_envelope_t envelope;
    amqp_maybe_release_buffers(conn);
    die_on(amqp_consume_message(conn, &envelope, NULL, 0), "consume");
    amqp_basic_ack(conn, 1, envelope.delivery_tag, 0);
    amqp_destroy_envelope(&envelope);
  }
  double consume_rate = messages / (now() - start);

  amqp_queue_delete(conn, 1, queue, 0, 0);
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  printf("amqp-raw-bench: %d persistent 200-byte messages, %d in flight, %s queue\n", messages, in_flight, queue_type);
  printf("publish with confirms: %.0f msg/s\nconsume with acks:     %.0f msg/s\n", publish_rate, consume_rate);
  return 0;
}
