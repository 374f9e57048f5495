// The example shop's public API: a CRUD application database, its seeder and its traffic.
export { runShopCommand, type ShopCommandOptions } from './command.js';
export { SHOP_TABLES, createShop, dropShop, shopSchemaSql, type ShopTable } from './schema.js';
export { seedShop, type SeedOptions, type SeedStats } from './seed.js';
export { OP_KINDS, runTraffic, type OpKind, type TrafficOptions, type TrafficStats } from './traffic.js';
