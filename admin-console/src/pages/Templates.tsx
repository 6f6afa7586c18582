import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { jsonWithExactNumbers, unwrap } from '../api/client';
import { useAuth } from '../auth';
import { ErrorNote, Field, Pager } from '../components/ui';
import { REGIONS } from './Institutions';

type Code = 'CONSTR_ESCROW' | 'CONSTR_RETAINAGE' | 'TF_INVOICE' | 'TF_LC';
interface ConfigField {
  key: string;
  label: string;
  kind: 'text' | 'number';
  required?: boolean;
}

// Each code's config, as escrowgrid/domain/templates.py checks it.
export const TEMPLATE_KINDS: Record<Code, { vertical: 'CONSTRUCTION' | 'TRADE_FINANCE'; fields: ConfigField[] }> = {
  CONSTR_ESCROW: {
    vertical: 'CONSTRUCTION',
    fields: [
      { key: 'currency', label: 'Currency', kind: 'text', required: true },
      { key: 'minAmount', label: 'Minimum amount', kind: 'number' },
      { key: 'maxAmount', label: 'Maximum amount', kind: 'number' },
    ],
  },
  CONSTR_RETAINAGE: {
    vertical: 'CONSTRUCTION',
    fields: [
      { key: 'retainagePercentage', label: 'Retainage percentage', kind: 'number', required: true },
      { key: 'currency', label: 'Currency', kind: 'text', required: true },
    ],
  },
  TF_INVOICE: {
    vertical: 'TRADE_FINANCE',
    fields: [
      { key: 'maxTenorDays', label: 'Maximum tenor (days)', kind: 'number', required: true },
      { key: 'country', label: 'Country (ISO 3166)', kind: 'text', required: true },
      { key: 'currency', label: 'Currency', kind: 'text', required: true },
    ],
  },
  TF_LC: {
    vertical: 'TRADE_FINANCE',
    fields: [
      { key: 'issuingBankCountry', label: 'Issuing bank country (ISO 3166)', kind: 'text', required: true },
      { key: 'maxTenorDays', label: 'Maximum tenor (days)', kind: 'number', required: true },
      { key: 'currency', label: 'Currency', kind: 'text', required: true },
    ],
  },
};
const CODES = Object.keys(TEMPLATE_KINDS) as Code[];
const LIMIT = 25;

export function Templates() {
  const { api, canWrite, who } = useAuth();
  const client = useQueryClient();
  const [offset, setOffset] = useState(0);
  const list = useQuery({
    queryKey: ['templates', offset],
    queryFn: () => unwrap(api.GET('/asset-templates', { params: { query: { limit: LIMIT, offset } } })),
  });
  const institutions = useQuery({ queryKey: ['institutions'], queryFn: () => unwrap(api.GET('/institutions')), enabled: who.kind === 'root' });
  const [institutionId, setInstitutionId] = useState('');
  const [code, setCode] = useState<Code>('CONSTR_ESCROW');
  const [name, setName] = useState('');
  const [region, setRegion] = useState<(typeof REGIONS)[number]>('US');
  const [config, setConfig] = useState<Record<string, string>>({});
  const create = useMutation({
    mutationFn: () => {
      const kind = TEMPLATE_KINDS[code];
      const values: Record<string, string> = {};
      const numbers: Record<string, string> = {};
      for (const f of kind.fields) {
        const v = (config[f.key] ?? '').trim();
        if (v === '') continue;
        values[f.key] = v;
        if (f.kind === 'number') numbers[f.key] = v; // sent as a JSON number, digit for digit
      }
      if (code === 'CONSTR_ESCROW') values.region = region;
      const body = {
        code, name, region, vertical: kind.vertical, config: values,
        ...(who.kind === 'root' && institutionId ? { institutionId } : {}),
      };
      return unwrap(api.POST('/asset-templates', { body, bodySerializer: (b) => jsonWithExactNumbers(b, numbers) }));
    },
    onSuccess: () => {
      setName('');
      setConfig({});
      return client.invalidateQueries({ queryKey: ['templates'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <section>
      <h1>Asset templates</h1>
      <ErrorNote error={list.error} />
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">Code</th><th scope="col">Vertical</th><th scope="col">Region</th><th scope="col">Config</th></tr></thead>
        <tbody>
          {(list.data?.data ?? []).map((t) => (
            <tr key={t.id}>
              <td>{t.name}</td><td>{t.code}</td><td>{t.vertical}</td><td>{t.region}</td>
              <td><code>{JSON.stringify(t.config)}</code></td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && <Pager total={list.data.pagination.total} limit={LIMIT} offset={offset} onOffset={setOffset} />}
      {canWrite && (
        <form onSubmit={submit} aria-label="New template" className="card">
          <h2>New template</h2>
          {who.kind === 'root' && (
            <Field label="Institution" name="institutionId" error={create.error}>
              <select id="f-institutionId" required value={institutionId} onChange={(e) => setInstitutionId(e.target.value)}>
                <option value="">choose…</option>
                {(institutions.data ?? []).map((i) => <option key={i.id} value={i.id}>{i.name}</option>)}
              </select>
            </Field>
          )}
          <Field label="Code" name="code" error={create.error}>
            <select id="f-code" value={code} onChange={(e) => { setCode(e.target.value as Code); setConfig({}); }}>
              {CODES.map((c) => <option key={c} value={c}>{c}</option>)}
            </select>
          </Field>
          <Field label="Name" name="name" error={create.error}>
            <input id="f-name" required value={name} onChange={(e) => setName(e.target.value)} />
          </Field>
          <Field label="Region" name="region" error={create.error}>
            <select id="f-region" value={region} onChange={(e) => setRegion(e.target.value as (typeof REGIONS)[number])}>
              {REGIONS.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
          </Field>
          <p className="hint">Vertical: {TEMPLATE_KINDS[code].vertical}</p>
          {TEMPLATE_KINDS[code].fields.map((f) => (
            <Field key={f.key} label={f.label} name={`config.${f.key}`} error={create.error}>
              <input id={`f-config.${f.key}`} required={f.required} inputMode={f.kind === 'number' ? 'decimal' : undefined}
                value={config[f.key] ?? ''} onChange={(e) => setConfig({ ...config, [f.key]: e.target.value })} />
            </Field>
          ))}
          <button type="submit" className="primary" disabled={create.isPending}>Create template</button>
          <ErrorNote error={create.error} />
        </form>
      )}
    </section>
  );
}
