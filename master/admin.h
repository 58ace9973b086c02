/*
 * master/admin.c: the admin listener's certificate, token and clients,
 * for webui.
 */
#ifndef MITMD_MASTER_ADMIN_H
#define MITMD_MASTER_ADMIN_H

struct ipc_chan;
struct ipc_msg;

void	admin_send_conf(struct ipc_chan *webui);
void	admin_ask_certd(struct ipc_chan *certd);
void	admin_on_certd(struct ipc_msg *);

#endif
