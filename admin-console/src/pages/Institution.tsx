import { useState, type FormEvent } from 'react';
import { useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap } from '../api/client';
import { useAuth } from '../auth';
import { ConfirmButton, ErrorNote, Field } from '../components/ui';
import { REGIONS } from './Institutions';

type Region = (typeof REGIONS)[number];

export function InstitutionPage() {
  const { id = '' } = useParams();
  const { api } = useAuth();
  const path = { params: { path: { id } } };
  const institution = useQuery({ queryKey: ['institution', id], queryFn: () => unwrap(api.GET('/institutions/{id}', path)) });
  return (
    <section>
      <h1>{institution.data?.name ?? 'Institution'}</h1>
      <ErrorNote error={institution.error} />
      {institution.data && (
        <p>
          <code>{institution.data.id}</code> · regions {institution.data.regions.join(', ')} · verticals{' '}
          {(institution.data.verticals ?? []).join(', ')}
        </p>
      )}
      <ApiKeys id={id} />
      {institution.data?.regions.map((r) => <PolicyEditor key={r} id={id} region={r as Region} />)}
    </section>
  );
}

function ApiKeys({ id }: { id: string }) {
  const { api, canWrite, who } = useAuth();
  const client = useQueryClient();
  const path = { params: { path: { id } } };
  const keys = useQuery({ queryKey: ['keys', id], queryFn: () => unwrap(api.GET('/institutions/{id}/api-keys', path)) });
  const [label, setLabel] = useState('');
  const [role, setRole] = useState<'admin' | 'read_only'>('admin');
  const [token, setToken] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const create = useMutation({
    mutationFn: () => unwrap(api.POST('/institutions/{id}/api-keys', { ...path, body: { label, role } })),
    onSuccess: (answer) => {
      setToken(typeof answer.apiKey === 'string' ? answer.apiKey : null);
      setCopied(false);
      setLabel('');
      return client.invalidateQueries({ queryKey: ['keys', id] });
    },
  });
  const revoke = useMutation({
    mutationFn: (keyId: string) =>
      unwrap(api.POST('/institutions/{id}/api-keys/{keyId}/revoke', { params: { path: { id, keyId } } })),
    onSettled: () => client.invalidateQueries({ queryKey: ['keys', id] }),
  });
  const mayManage = canWrite && (who.kind === 'root' || who.kind === 'admin');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <ErrorNote error={keys.error ?? revoke.error} />
      <table>
        <thead><tr><th scope="col">Label</th><th scope="col">Role</th><th scope="col">Id</th><th scope="col">Created</th><th scope="col">Status</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {(keys.data ?? []).map((k) => (
            <tr key={k.id}>
              <td>{k.label}</td>
              <td>{k.role}</td>
              <td><code>{k.id}</code></td>
              <td>{new Date(k.createdAt).toLocaleString()}</td>
              <td>{k.revokedAt ? `revoked ${new Date(k.revokedAt).toLocaleString()}` : 'active'}</td>
              <td>
                {mayManage && !k.revokedAt && (
                  <ConfirmButton danger label={`Revoke ${k.label}`} question={`Revoke the key "${k.label}"? It is refused from the next request on.`} onConfirm={() => revoke.mutate(k.id)} />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {token && (
        <div className="token" role="status">
          <p>The new key, shown this once (the service keeps only its SHA-256):</p>
          <code data-testid="new-token">{token}</code>{' '}
          <button type="button" onClick={() => { void navigator.clipboard?.writeText(token).then(() => setCopied(true), () => setCopied(false)); }}>
            {copied ? 'Copied' : 'Copy'}
          </button>{' '}
          <button type="button" onClick={() => setToken(null)}>Done</button>
        </div>
      )}
      {mayManage && (
        <form onSubmit={submit} aria-label="New API key">
          <Field label="Label" name="label" error={create.error}>
            <input id="f-label" required value={label} onChange={(e) => setLabel(e.target.value)} />
          </Field>
          <Field label="Role" name="role" error={create.error}>
            <select id="f-role" value={role} onChange={(e) => setRole(e.target.value as 'admin' | 'read_only')}>
              <option value="admin">admin</option>
              <option value="read_only">read_only</option>
            </select>
          </Field>
          <button type="submit" className="primary" disabled={create.isPending}>Create key</button>
          <ErrorNote error={create.error} />
        </form>
      )}
    </section>
  );
}

function currencyList(text: string): string[] {
  return text.split(',').map((c) => c.trim().toUpperCase()).filter(Boolean);
}

function PolicyEditor({ id, region }: { id: string; region: Region }) {
  const { api, canWrite, who } = useAuth();
  const client = useQueryClient();
  const policies = useQuery({ queryKey: ['policies', id], queryFn: () => unwrap(api.GET('/institutions/{id}/policies', { params: { path: { id } } })) });
  const current = policies.data?.find((p) => p.region === region)?.config.position;
  const [edit, setEdit] = useState<{ min: string; max: string; currencies: string } | null>(null);
  const save = useMutation({
    mutationFn: (v: { min: string; max: string; currencies: string }) =>
      unwrap(api.PUT('/institutions/{id}/policies/{region}', {
        params: { path: { id, region } },
        body: {
          position: {
            ...(v.min.trim() === '' ? {} : { minAmount: v.min.trim() }),
            ...(v.max.trim() === '' ? {} : { maxAmount: v.max.trim() }),
            // Empty means every currency: the API wants the field left out then.
            ...(currencyList(v.currencies).length ? { allowedCurrencies: currencyList(v.currencies) } : {}),
          },
        },
      })),
    onSuccess: () => {
      setEdit(null);
      return client.invalidateQueries({ queryKey: ['policies', id] });
    },
  });
  const mayEdit = canWrite && (who.kind === 'root' || who.kind === 'admin');
  const prefix = `policy-${region}`;
  return (
    <section className="card" aria-labelledby={`${prefix}-title`}>
      <h2 id={`${prefix}-title`}>Policy {region}</h2>
      {!edit && (
        <>
          <dl className="facts">
            <dt>Minimum amount</dt><dd data-testid={`${prefix}-min`}>{current?.minAmount ?? '—'}</dd>
            <dt>Maximum amount</dt><dd data-testid={`${prefix}-max`}>{current?.maxAmount ?? '—'}</dd>
            <dt>Allowed currencies</dt><dd>{current?.allowedCurrencies?.join(', ') || 'any'}</dd>
          </dl>
          {mayEdit && (
            <button type="button" onClick={() => { save.reset(); setEdit({ min: current?.minAmount ?? '', max: current?.maxAmount ?? '', currencies: (current?.allowedCurrencies ?? []).join(', ') }); }}>
              Edit policy {region}
            </button>
          )}
        </>
      )}
      {edit && (
        <form aria-label={`Policy ${region}`} onSubmit={(e) => { e.preventDefault(); save.mutate(edit); }}>
          <Field label="Minimum amount" name="minAmount" error={save.error}>
            <input id="f-minAmount" inputMode="decimal" value={edit.min} onChange={(e) => setEdit({ ...edit, min: e.target.value })} />
          </Field>
          <Field label="Maximum amount" name="maxAmount" error={save.error}>
            <input id="f-maxAmount" inputMode="decimal" value={edit.max} onChange={(e) => setEdit({ ...edit, max: e.target.value })} />
          </Field>
          <Field label="Allowed currencies (comma separated)" name="allowedCurrencies" error={save.error}>
            <input id="f-allowedCurrencies" value={edit.currencies} onChange={(e) => setEdit({ ...edit, currencies: e.target.value })} />
          </Field>
          <button type="submit" className="primary" disabled={save.isPending}>Save policy</button>{' '}
          <button type="button" onClick={() => setEdit(null)}>Cancel</button>
          <ErrorNote error={save.error} />
        </form>
      )}
    </section>
  );
}
