import t from 'tap'
import { ConnackCodes, connectRefusal } from '../../src/broker/connect-rules.js'

t.test('[MQTT-3.1.3-8] empty client id with clean session off is refused', async (t) => {
  t.equal(connectRefusal({ clientId: '', clean: false }, 128), ConnackCodes.IDENTIFIER_REJECTED)
  t.equal(connectRefusal({ clientId: '', clean: true }, 128), null, 'allowed with clean session: the server assigns an id')
  t.equal(connectRefusal({ clientId: 'dev-1', clean: false }, 128), null)
  t.equal(connectRefusal({ clientId: 'x'.repeat(129), clean: true }, 128), ConnackCodes.IDENTIFIER_REJECTED, 'over the configured length')
})
