import { useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api/client';
import { formatMoney } from '../money';

export function Money({ amount, currency }: { amount: string; currency: string }) {
  return <span className="money" data-amount={amount}>{formatMoney(amount, currency)}</span>;
}

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge badge-${state.toLowerCase()}`}>{state}</span>;
}

export function ErrorNote({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  const text = error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : String(error);
  return <p role="alert" className="error">{text}</p>;
}

/** One form field with its label and the server's validation message for it. */
export function Field({
  label, name, error, children,
}: { label: string; name: string; error?: unknown; children: ReactNode }) {
  const message = error instanceof ApiError ? error.fieldMessage(name) : undefined;
  return (
    <div className="field">
      <label htmlFor={`f-${name}`}>{label}</label>
      {children}
      {message && <span className="field-error" id={`e-${name}`} role="alert">{message}</span>}
    </div>
  );
}

/** A button that asks before it acts; the dialog is a native <dialog> (focus trapped, Esc closes). */
export function ConfirmButton({
  label, question, onConfirm, disabled, danger,
}: { label: string; question: string; onConfirm: () => void; disabled?: boolean; danger?: boolean }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const node = dialog.current;
    if (!node) return;
    if (open && !node.open) node.showModal?.();
    if (!open && node.open) node.close();
  }, [open]);
  return (
    <>
      <button type="button" className={danger ? 'danger' : undefined} disabled={disabled} onClick={() => setOpen(true)}>
        {label}
      </button>
      <dialog ref={dialog} onClose={() => setOpen(false)} aria-label={label}>
        {open && (
          <form method="dialog" onSubmit={(e) => { e.preventDefault(); setOpen(false); onConfirm(); }}>
            <p>{question}</p>
            <div className="actions">
              <button type="submit" className={danger ? 'danger' : 'primary'} autoFocus>Confirm</button>
              <button type="button" onClick={() => setOpen(false)}>Keep as is</button>
            </div>
          </form>
        )}
      </dialog>
    </>
  );
}

export function Pager({
  total, limit, offset, onOffset,
}: { total: number; limit: number; offset: number; onOffset: (o: number) => void }) {
  const last = Math.min(offset + limit, total);
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - limit))}>Previous</button>
      <span>{total === 0 ? 'none' : `${offset + 1}–${last} of ${total}`}</span>
      <button type="button" disabled={last >= total} onClick={() => onOffset(offset + limit)}>Next</button>
    </nav>
  );
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}
