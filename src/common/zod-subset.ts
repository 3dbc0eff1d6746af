// The part of zod that tsula's lazy schemas use, named one by one: the bundler then keeps
// only these and what they need (~140 KB), where `import('zod')` would keep all of zod,
// every locale with it (~585 KB). A schema that needs more of zod adds it here.
export { array, boolean, enum, literal, looseObject, number, object, record, string, union, unknown } from 'zod';
