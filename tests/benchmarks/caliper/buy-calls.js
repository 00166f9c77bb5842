'use strict';

// The purchase of one call: BuyCalls(service, 1, maxPrice) submitted by a buyer with SToken (endorsed by a
// majority of organizations, ordered, committed). Latency runs from the proposal to the commit status.
const { BuyerWorkload } = require('./workload');

class BuyCalls extends BuyerWorkload {
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter,
            sutContext);
        this.calls = String(roundArguments.calls || 1);
        this.maxPrice = String(roundArguments.maxPrice);
    }

    async submitTransaction() {
        await this.send('BuyCalls', [this.roundArguments.service, this.calls, this.maxPrice], false);
    }
}

function createWorkloadModule() {
    return new BuyCalls();
}

module.exports.createWorkloadModule = createWorkloadModule;
