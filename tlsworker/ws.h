/*
 * A passive WebSocket frame parser (RFC 6455 section 5) for one direction
 * of an intercepted connection, after the HTTP/1.1 Upgrade handshake.
 *
 * How the worker feeds it: every byte relayed in one direction (client to
 * server, or server to client) goes to ws_feed() in whatever chunks the
 * socket delivered them, down to one byte at a time; a frame header may be
 * split anywhere. The worker forwards the same bytes untouched: the parser
 * only reads them, and unmasks payload into its own small buffer for the
 * callbacks. One struct ws_parser per direction.
 *
 * The parser reports frame headers, unmasked payload in pieces, the end of
 * each data message and each control frame (with the close code and
 * reason), and notes that are not errors (a non-minimal length encoding,
 * a message too large for inspection). A protocol error is reported once,
 * with a static reason; after it the stream is no longer parsable and the
 * parser ignores the rest (the proxy may still relay it, or close).
 *
 * Checked: RSV bits against the negotiated extensions (permessage-deflate
 * allows RSV1 on the first frame of a data message: "compressed";
 * inflating is not done here), reserved opcodes, the masking rule of
 * section 5.1 for the direction, control frames (FIN set, at most 125
 * bytes, allowed between the fragments of a message), the fragmentation
 * rules of 5.4, 64-bit lengths with the top bit set, close frames (no
 * 1-byte payload, a code valid on the wire, a UTF-8 reason), and nothing
 * after a close frame. Text messages are not checked for UTF-8.
 *
 * Nothing allocates: the state is a fixed struct. A message longer than
 * the observation limit is noted once; its frames are still delimited, but
 * its payload is no longer passed on. Fuzzed by tests/fuzz/tlsworker_ws.c.
 */
#ifndef MITMD_TW_WS_H
#define MITMD_TW_WS_H

#include <stddef.h>
#include <stdint.h>

#define WS_MSG_MAX_DEFAULT   ((uint64_t)16 << 20) /* observed message bytes */
#define WS_CONTROL_MAX	     125	/* payload of a control frame */
#define WS_HEADER_MAX	     14		/* 2 + 8 extended length + 4 key */
#define WS_MASK_LEN	     4
#define WS_UNMASK_CHUNK	     512	/* unmasked bytes per payload call */

/* Close codes (RFC 6455 7.4.1) the parser names. */
#define WS_CLOSE_NORMAL	     1000
#define WS_CLOSE_NO_STATUS   1005	/* reported for an empty close body */

enum ws_result {
	WS_OK = 0,	/* everything taken, feed more */
	WS_ERROR,	/* protocol error; see wp_error, nothing more parsed */
};

enum ws_direction {
	WS_CLIENT_TO_SERVER = 1,	/* frames must be masked */
	WS_SERVER_TO_CLIENT,		/* frames must not be masked */
};

/* ws_init flags: the extensions the handshake negotiated. */
#define WS_F_DEFLATE	0x01	/* permessage-deflate (RFC 7692) */

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* RSV bits as they sit in the first header byte, shifted down. */
#define WS_RSV1		0x4
#define WS_RSV2		0x2
#define WS_RSV3		0x1

struct ws_limits {
	uint64_t	 wl_msg_max;	/* 0: WS_MSG_MAX_DEFAULT */
};

/* The frame being parsed, valid from its header callback to its end. */
struct ws_frame {
	int		 wf_opcode;	/* enum ws_opcode, as on the wire */
	int		 wf_fin;
	int		 wf_rsv;	/* WS_RSV1 | WS_RSV2 | WS_RSV3 */
	int		 wf_masked;
	uint8_t		 wf_key[WS_MASK_LEN];
	uint64_t	 wf_len;	/* payload bytes */
	int		 wf_nonminimal;	/* length in a longer form than needed */
	int		 wf_msg_opcode;	/* text or binary for data frames,
					 * wf_opcode for control frames */
	uint64_t	 wf_msg_off;	/* message bytes before this frame */
};

struct ws_message {
	int		 wm_opcode;	/* WS_OP_TEXT or WS_OP_BINARY */
	uint64_t	 wm_len;	/* payload bytes of all its frames
					 * (saturates at UINT64_MAX) */
	int		 wm_compressed;	/* RSV1 on its first frame */
	int		 wm_oversize;	/* over the limit: payload not all seen */
	unsigned	 wm_frames;	/* saturates at UINT_MAX */
};

struct ws_control {
	int		 wc_opcode;	/* close, ping or pong */
	const uint8_t	*wc_data;	/* unmasked payload, wc_len bytes */
	size_t		 wc_len;
	/* close frames only */
	int		 wc_code;	/* WS_CLOSE_NO_STATUS if none sent */
	const uint8_t	*wc_reason;	/* UTF-8, not NUL-terminated */
	size_t		 wc_reason_len;
};

/*
 * Each callback may be NULL. Pointers passed to them are valid only during
 * the call. wcb_payload gets the unmasked payload of every frame (control
 * frames too) in pieces, off being the offset of the piece in the frame.
 */
struct ws_callbacks {
	void	(*wcb_frame)(void *, const struct ws_frame *);
	void	(*wcb_payload)(void *, const struct ws_frame *,
		    const uint8_t *, size_t, uint64_t off);
	void	(*wcb_message)(void *, const struct ws_message *);
	void	(*wcb_control)(void *, const struct ws_control *);
	void	(*wcb_note)(void *, const char *);
	void	(*wcb_error)(void *, const char *);
};

struct ws_parser {
	/* set by ws_init */
	int		 wp_dir;	/* enum ws_direction */
	unsigned	 wp_flags;	/* WS_F_* */
	uint64_t	 wp_msg_max;

	int		 wp_state;
	uint8_t		 wp_hdr[WS_HEADER_MAX];
	size_t		 wp_hlen;	/* header bytes so far */
	size_t		 wp_hneed;	/* header bytes this frame has */
	struct ws_frame	 wp_frame;
	uint64_t	 wp_off;	/* payload bytes of the frame so far */

	struct ws_message wp_msg;	/* the open data message */
	int		 wp_msg_open;

	uint8_t		 wp_ctl[WS_CONTROL_MAX]; /* control payload */

	uint64_t	 wp_total;	/* stream bytes parsed */
	int		 wp_noted_nonminimal; /* noted once per stream */
	const char	*wp_error;	/* static text after WS_ERROR */
};

/* direction: enum ws_direction; flags: WS_F_*; limits may be NULL. */
void	 ws_init(struct ws_parser *, int direction, unsigned flags,
	    const struct ws_limits *);
/* Observe the next len bytes of the stream. WS_OK or WS_ERROR; after
 * WS_ERROR every call returns WS_ERROR at once, without callbacks. */
int	 ws_feed(struct ws_parser *, const uint8_t *, size_t,
	    const struct ws_callbacks *, void *arg);
/* Has a close frame been seen (nothing may follow it)? */
int	 ws_closed(const struct ws_parser *);
/* Is a close code acceptable in a close frame (RFC 6455 7.4)? */
int	 ws_close_code_valid(unsigned);
const char *ws_opcode_name(int);

#endif
