// The API URL and key live in sessionStorage: this tab only, gone when it closes or on sign out.
const STORAGE_KEY = 'escrowgrid.console.session';

export interface Session {
  apiUrl: string;
  apiKey: string;
}

export function loadSession(): Session | null {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Partial<Session>;
    if (typeof parsed.apiUrl === 'string' && typeof parsed.apiKey === 'string') {
      return { apiUrl: parsed.apiUrl, apiKey: parsed.apiKey };
    }
  } catch {
    // a damaged entry is dropped below
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return null;
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** The API URL the console suggests: the runtime config file's, else this page's origin. */
export async function defaultApiUrl(): Promise<string> {
  try {
    const answer = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: 'no-store' });
    if (answer.ok) {
      const config = (await answer.json()) as { apiUrl?: unknown };
      if (typeof config.apiUrl === 'string' && config.apiUrl !== '') return config.apiUrl;
    }
  } catch {
    // no config file: same origin
  }
  return window.location.origin;
}
