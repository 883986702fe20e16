/* Packed commands (see cpipe.h) checked and written out as RESP. */
#ifndef CPIPE_COMMAND_H
#define CPIPE_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

/* Walks the packed commands once: on success stores how many there are and
 * how many bytes their RESP form takes, and returns 0; returns -1 when the
 * buffer is malformed (zero arguments, a length past the end, trailing bytes). */
int cpipe_commands_measure(const uint8_t *cmds, size_t len, size_t *count, size_t *resp_size);

/* The RESP size of the first of already measured commands; its packed size
 * goes to *packed (the next command starts there). */
size_t cpipe_command_resp_size(const uint8_t *cmd, size_t *packed);

/* The packed form of the command whose RESP form (as cpipe_commands_write_resp
 * writes it) begins `resp`, of which `len` bytes are there: its packed size,
 * written to `dst` unless NULL; 0 when those bytes hold no whole command. */
size_t cpipe_command_packed_from_resp(const uint8_t *resp, size_t len, uint8_t *dst);

/* Appends the RESP form of already measured commands to out; 0 or -1 (no memory). */
int cpipe_commands_write_resp(const uint8_t *cmds, size_t len, size_t resp_size, cpipe_buffer *out);

#endif
