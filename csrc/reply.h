/* hiredis' reader driven with callbacks that write replies in cpipe's encoded
 * form (see cpipe.h) instead of building redisReply trees. */
#ifndef CPIPE_REPLY_H
#define CPIPE_REPLY_H

#include <hiredis/read.h>

#include "buffer.h"

typedef struct cpipe_reply_encoder {
    cpipe_buffer encoded; /* the reply being parsed, then the whole reply */
    int is_push;          /* the reply at the root is an out-of-band push */
} cpipe_reply_encoder;

/* A reader whose replies go to enc->encoded; NULL when out of memory. */
redisReader *cpipe_reply_reader_create(cpipe_reply_encoder *enc);

#endif
