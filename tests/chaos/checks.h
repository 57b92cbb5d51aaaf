#pragma once
// The invariants checked directly in the stores after a chaos round, once both daemons run and
// the coordinator reports no transaction in flight. Each failed check is one violation, printed
// to stderr with what was expected and found.
#include <vector>

#include "bank.h"

namespace txcoord::chaos {

// Returns the number of violations:
// - money conserved: sum of accounts + wallets == 2 * n * initial balance;
// - every balance == initial + its ledger entries (no write outside the ledgered actions);
// - per transfer: committed → debit and credit each applied exactly once; aborted/compensated →
//   net zero in both stores; unknown outcome → one of the two, never half-applied; at most one
//   debit and one credit row in PostgreSQL (a key applied at most once); after the round's
//   restart of the coordinator, GET of the transfer answers its final state, the one the stores
//   show and the API reported (404 only for an unknown outcome applied nowhere: never begun);
// - no prepared transaction of this coordinator in pg_prepared_xacts;
// - no Redis lock, key list or prepared-set entry, no barrier with staged writes.
int CheckInvariants(Bank& bank, const std::vector<TransferRecord>& transfers);

}  // namespace txcoord::chaos
