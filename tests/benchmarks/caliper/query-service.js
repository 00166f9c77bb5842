'use strict';

// The service query: QueryService(name), evaluated (no transaction) on a peer of the buyer's organization.
const { BuyerWorkload } = require('./workload');

class QueryService extends BuyerWorkload {
    async submitTransaction() {
        await this.send('QueryService', [this.roundArguments.service], true);
    }
}

function createWorkloadModule() {
    return new QueryService();
}

module.exports.createWorkloadModule = createWorkloadModule;
