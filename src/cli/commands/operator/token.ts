// vgpu-admin operator token NAME --rotate: a new token for an operator. Without --rotate it says
// why the current one cannot be shown, as `vm token` does.

import { VgpuError } from '../../../common/errors.js';
import type { CommandContext } from '../../context.js';

export interface OperatorTokenOptions {
  rotate?: boolean;
}

export async function run(ctx: CommandContext, name: string, o: OperatorTokenOptions): Promise<void> {
  const ops = await ctx.ops();
  if (!o.rotate) {
    // An unknown operator is the more useful error.
    if (!(await ops.listOperators()).some((x) => x.name === name)) throw new VgpuError('VGPU_ERR_OPERATOR_NOT_FOUND', { name });
    throw new VgpuError('VGPU_ERR_TOKEN_NOT_RECOVERABLE', { kind: 'operator', name, command: 'operator' });
  }
  const { operator, token } = await ops.rotateOperatorToken(name);
  if (ctx.json) {
    ctx.result({ operator, token });
    return;
  }
  ctx.line(`new token for operator ${operator.name}; the previous one no longer works:`);
  ctx.line(token);
}
