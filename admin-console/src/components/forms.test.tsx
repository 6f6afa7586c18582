import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ConfirmButton, Field } from './ui';
import { ApiError } from '../api/client';
import { SignIn } from '../pages/SignIn';

describe('ConfirmButton', () => {
  it('acts only after the confirmation', async () => {
    const act = vi.fn();
    render(<ConfirmButton label="Fund" question="Fund this position?" onConfirm={act} />);
    await userEvent.click(screen.getByRole('button', { name: 'Fund' }));
    expect(screen.getByText('Fund this position?')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Keep as is' }));
    expect(act).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole('button', { name: 'Fund' }));
    await userEvent.click(screen.getByRole('button', { name: 'Confirm' }));
    expect(act).toHaveBeenCalledTimes(1);
  });
});

describe('Field', () => {
  it("shows the server's message at its field", () => {
    const error = new ApiError(400, 'Validation failed', [{ field: 'position.maxAmount', message: 'must be at least minAmount' }]);
    render(<Field label="Maximum amount" name="maxAmount" error={error}><input id="f-maxAmount" /></Field>);
    expect(screen.getByRole('alert')).toHaveTextContent('must be at least minAmount');
    expect(screen.getByLabelText('Maximum amount')).toBeInTheDocument();
  });
});

describe('SignIn', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('signs in with the kind of key the API names', async () => {
    const keys: (string | null)[] = [];
    const fetch = vi.fn(async (request: Request | string) => {
      if (typeof request === 'string') return new Response('{}', { status: 404 });
      keys.push(request.headers.get('X-API-KEY'));
      return new Response(JSON.stringify({ kind: 'read_only', keyId: 'k1', institutionId: 'i1' }), {
        status: 200, headers: { 'content-type': 'application/json' },
      });
    });
    vi.stubGlobal('fetch', fetch);
    const signedIn = vi.fn();
    render(<SignIn initial={null} onSignedIn={signedIn} />);
    // Prefilled with this page's origin when no config file names the API.
    await waitFor(() => expect(screen.getByLabelText('API URL')).toHaveValue(window.location.origin));
    await userEvent.clear(screen.getByLabelText('API URL'));
    await userEvent.type(screen.getByLabelText('API URL'), 'http://api.test');
    await userEvent.type(screen.getByLabelText('API key'), 'eg_secret');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(signedIn).toHaveBeenCalled());
    expect(signedIn.mock.calls[0]?.[1]).toMatchObject({ kind: 'read_only' });
    expect(keys).toEqual(['eg_secret']);
  });

  it('says so when the key is refused', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ error: 'Unauthorized' }), {
      status: 401, headers: { 'content-type': 'application/json' },
    })));
    render(<SignIn initial={null} onSignedIn={vi.fn()} />);
    await waitFor(() => expect(screen.getByLabelText('API URL')).toHaveValue(window.location.origin));
    await userEvent.type(screen.getByLabelText('API key'), 'wrong');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('refused this key');
  });
});
