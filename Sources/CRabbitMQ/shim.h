#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_framing.h>

// amqp_login_with_properties is variadic, which Swift cannot call: this fixes its SASL
// method to PLAIN and passes the two credentials it then takes.
static inline amqp_rpc_reply_t amqp_shim_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max, int frame_max,
    int heartbeat, const amqp_table_t *client_properties, const char *user,
    const char *password) {
  return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat,
                                    client_properties, AMQP_SASL_METHOD_PLAIN, user,
                                    password);
}

#endif
