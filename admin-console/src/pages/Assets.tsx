import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap } from '../api/client';
import { useAuth } from '../auth';
import { ErrorNote, Field, Pager } from '../components/ui';

const LIMIT = 25;

export function Assets() {
  const { api, canWrite, who } = useAuth();
  const client = useQueryClient();
  const [offset, setOffset] = useState(0);
  const list = useQuery({
    queryKey: ['assets', offset],
    queryFn: () => unwrap(api.GET('/assets', { params: { query: { limit: LIMIT, offset } } })),
  });
  const templates = useQuery({ queryKey: ['templates', 'all'], queryFn: () => unwrap(api.GET('/asset-templates', { params: { query: { limit: 1000 } } })) });
  const [templateId, setTemplateId] = useState('');
  const [label, setLabel] = useState('');
  const create = useMutation({
    mutationFn: () => {
      const template = templates.data?.data.find((t) => t.id === templateId);
      const owner = who.kind === 'root' && template ? { institutionId: template.institutionId } : {};
      return unwrap(api.POST('/assets', { body: { templateId, label, ...owner } }));
    },
    onSuccess: () => {
      setLabel('');
      return client.invalidateQueries({ queryKey: ['assets'] });
    },
  });
  const names = new Map((templates.data?.data ?? []).map((t) => [t.id, t.name]));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <section>
      <h1>Assets</h1>
      <ErrorNote error={list.error} />
      <table>
        <thead><tr><th scope="col">Label</th><th scope="col">Template</th><th scope="col">Id</th><th scope="col">Created</th></tr></thead>
        <tbody>
          {(list.data?.data ?? []).map((a) => (
            <tr key={a.id}>
              <td>{a.label}</td><td>{names.get(a.templateId) ?? a.templateId}</td>
              <td><code>{a.id}</code></td><td>{new Date(a.createdAt).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && <Pager total={list.data.pagination.total} limit={LIMIT} offset={offset} onOffset={setOffset} />}
      {canWrite && (
        <form onSubmit={submit} aria-label="New asset" className="card">
          <h2>New asset</h2>
          <Field label="Template" name="templateId" error={create.error}>
            <select id="f-templateId" required value={templateId} onChange={(e) => setTemplateId(e.target.value)}>
              <option value="">choose…</option>
              {(templates.data?.data ?? []).map((t) => <option key={t.id} value={t.id}>{t.name} ({t.code})</option>)}
            </select>
          </Field>
          <Field label="Label" name="label" error={create.error}>
            <input id="f-label" required value={label} onChange={(e) => setLabel(e.target.value)} />
          </Field>
          <button type="submit" className="primary" disabled={create.isPending}>Create asset</button>
          <ErrorNote error={create.error} />
        </form>
      )}
    </section>
  );
}
