export const SETUP = ''
