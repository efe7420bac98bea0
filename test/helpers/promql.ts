// The metric names a PromQL expression selects, by Prometheus' own PromQL grammar
// (@prometheus-io/lezer-promql), and the expressions of the shipped Grafana dashboard and
// Prometheus rules (deploy/), for the test that each names a series the mediator exports.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { ROOT } from './paths.js';

/** Grafana's interval variables, which stand where PromQL wants a duration. */
const GRAFANA_DURATIONS = /\$(__rate_interval|__interval|__range)\b/g;

/** Metric names selected by `expr`; throws, saying where, if it is not PromQL. */
export function metricNames(expr: string): string[] {
  const text = expr.replace(GRAFANA_DURATIONS, '5m');
  const names = new Set<string>();
  let error: number | undefined;
  parser.parse(text).iterate({
    enter(n) {
      if (n.type.isError) error ??= n.from;
      if (n.name !== 'VectorSelector') return;
      const id = n.node.getChild('Identifier');
      if (id) names.add(text.slice(id.from, id.to));
      // {__name__="x"}: a name given as a matcher.
      for (const m of n.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
        const label = m.getChild('LabelName');
        const value = m.getChild('StringLiteral');
        if (label && value && text.slice(label.from, label.to) === '__name__' && m.getChild('MatchOp')?.getChild('EqlSingle')) {
          names.add(JSON.parse(text.slice(value.from, value.to)) as string);
        }
      }
    },
  });
  if (error !== undefined) throw new Error(`not PromQL at offset ${error}: ${expr}`);
  return [...names];
}

export interface Query {
  where: string;
  expr: string;
}

const panelSchema = z.looseObject({
  title: z.string().optional(),
  targets: z.array(z.looseObject({ expr: z.string().optional() })).optional(),
  panels: z.array(z.unknown()).optional(),
});
const dashboardSchema = z.looseObject({
  panels: z.array(z.unknown()),
  templating: z.looseObject({
    list: z.array(z.looseObject({ name: z.string(), type: z.string(), query: z.union([z.string(), z.looseObject({ query: z.string() })]).optional() })),
  }),
});

/** Every PromQL expression of deploy/grafana/vgpu-dashboard.json: panel targets (rows' panels
 * too) and query variables (`label_values(SELECTOR, label)` gives its selector). */
export function dashboardQueries(file = join(ROOT, 'deploy/grafana/vgpu-dashboard.json')): Query[] {
  const d = dashboardSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const out: Query[] = [];
  const walk = (raw: unknown[]): void => {
    for (const p of raw.map((x) => panelSchema.parse(x))) {
      for (const t of p.targets ?? []) if (t.expr !== undefined) out.push({ where: `panel "${p.title ?? '?'}"`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  for (const v of d.templating.list) {
    if (v.type !== 'query' || v.query === undefined) continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const lv = /^label_values\((.*),\s*\w+\)$/.exec(q.trim());
    out.push({ where: `variable $${v.name}`, expr: lv ? lv[1]! : q });
  }
  return out;
}

const rulesSchema = z.object({
  groups: z.array(z.object({
    name: z.string(),
    rules: z.array(z.object({ alert: z.string().optional(), record: z.string().optional(), expr: z.string() }).loose()),
  })),
});

/** Every rule expression of deploy/prometheus/vgpu-alerts.yml. */
export function ruleQueries(file = join(ROOT, 'deploy/prometheus/vgpu-alerts.yml')): Query[] {
  const r = rulesSchema.parse(parseYaml(readFileSync(file, 'utf8')));
  return r.groups.flatMap((g) => g.rules.map((x) => ({ where: `rule ${g.name}/${x.alert ?? x.record ?? '?'}`, expr: x.expr })));
}
