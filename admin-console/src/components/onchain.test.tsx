import { render, screen, within } from '@testing-library/react';
import { OnchainRecords } from './Onchain';
import { ApiError } from '../api/client';

const TX = `0x${'ab'.repeat(32)}`;

describe('OnchainRecords', () => {
  it('shows each record with its transaction, block and status, and the failures', () => {
    render(<OnchainRecords error={null} records={{
      positionId: 'p1',
      records: [
        { logPosition: 7, kind: 'POSITION_CREATED', status: 'published', txHash: TX, blockNumber: 12, attempts: 1, lastError: null, publishedAt: '2026-12-02T06:00:00.000Z' },
        { logPosition: 9, kind: 'POSITION_STATE_CHANGED', status: 'failed', txHash: null, blockNumber: null, attempts: 4, lastError: 'the node is unreachable', publishedAt: null },
      ],
    }} />);
    expect(screen.getByTestId('onchain-summary')).toHaveTextContent('1 of 2 events confirmed on chain.');
    const published = within(screen.getByTestId('onchain-7'));
    expect(published.getByText(TX)).toBeInTheDocument();
    expect(published.getByText('12')).toBeInTheDocument();
    expect(published.getByText('published')).toBeInTheDocument();
    const failed = within(screen.getByTestId('onchain-9'));
    expect(failed.getByText('failed')).toHaveAttribute('title', expect.stringContaining('escrowgrid onchain retry'));
    expect(failed.getByText('4')).toBeInTheDocument();
    expect(failed.getByText('the node is unreachable')).toBeInTheDocument();
    expect(screen.queryByTestId('onchain-empty')).not.toBeInTheDocument();
  });

  it('says plainly when the position is not mirrored on chain', () => {
    render(<OnchainRecords error={null} records={{ positionId: 'p2', records: [] }} />);
    expect(screen.getByTestId('onchain-empty')).toHaveTextContent('Not mirrored on chain');
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
  });

  it("shows the API's refusal", () => {
    render(<OnchainRecords records={undefined} error={new ApiError(403, 'Forbidden', [])} />);
    expect(screen.getByRole('alert')).toHaveTextContent('Forbidden (HTTP 403)');
  });
});
