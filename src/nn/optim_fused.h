/* Private: the optimizer's update done inside the backward pass (the plain training
 * step: mla_train without gradient hooks). A dense layer whose weight gradient runs on
 * the engine's kernels claims its weight tensor, and as each band of 8 rows of the
 * gradient is formed (into scratch: the gradient buffer is never written), it updates
 * those parameters and their moments; the optimizer's pass afterwards updates the
 * other tensors. Same bits as the backward followed by mla_optimizer_step_and_zero_grads
 * (the gradient buffer being zero before it, as training keeps it): every element's
 * gradient is 0 + its product and its update the same arithmetic. Adam only. */
#ifndef MLAUDIT_NN_OPTIM_FUSED_H
#define MLAUDIT_NN_OPTIM_FUSED_H

#include <stdbool.h>
#include <stddef.h>

#include "mlaudit/nn.h"

typedef struct mla_opt_fused mla_opt_fused;

/* The fused update for the next step of opt on net, or NULL where there is none (not
 * Adam, a frozen net, another net's size). Clears any earlier claims. Borrowed: valid
 * until mla_optimizer_fuse_end. */
mla_opt_fused *mla_optimizer_fuse_begin(mla_optimizer *opt, mla_net *net);
/* Claims the trainable tensor [off, off + count) of the flat vector for the backward;
 * false (nothing claimed) unless it is exactly one of the optimizer's tensors. Call
 * outside parallel regions. */
bool mla_opt_fused_claim(mla_opt_fused *f, size_t off, size_t count);
/* Updates parameters [off + i ld, off + i ld + cols) for rows i < rows, row i's gradient
 * at g + i ldg (g is overwritten: 0 + g, the buffer's value the unfused pass would
 * read), with subnormals flushed as in the optimizer's pass. Any thread. */
void mla_opt_fused_rows(const mla_opt_fused *f, size_t off, size_t ld, float *g, size_t ldg, int rows, int cols);
/* The rest of the step: the unclaimed tensors' update (their gradients cleared), the
 * step count; then no claims. */
void mla_optimizer_fuse_end(mla_optimizer *opt, mla_net *net);

/* mla_net_backward (no input gradient) with f's update fused where layers can. */
mla_status mla_net_backward_fused(mla_net *net, const float *dout, mla_opt_fused *f);

#endif
