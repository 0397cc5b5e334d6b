// Published test vectors, copied verbatim from github.com/bitcoin/bips (bip-0032, bip-0084, bip-0086,
// bip-0341/wallet-test-vectors.json, bip-0380, bip-0393). Only the parts the specs use.

export const BIP32 = {
  // [parent xpub, child index, child xpub]: every non-hardened (CKDpub) step of test vectors 1 and 2.
  ckdPubSteps: [
    // vector 1: m/0H -> m/0H/1
    [
      'xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw',
      1,
      'xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ',
    ],
    // vector 1: m/0H/1/2H -> m/0H/1/2H/2
    [
      'xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5',
      2,
      'xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV',
    ],
    // vector 1: m/0H/1/2H/2 -> m/0H/1/2H/2/1000000000
    [
      'xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV',
      1000000000,
      'xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy',
    ],
    // vector 2: m -> m/0
    [
      'xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB',
      0,
      'xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH',
    ],
    // vector 2: m/0/2147483647H -> m/0/2147483647H/1
    [
      'xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a',
      1,
      'xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon',
    ],
    // vector 2: m/0/2147483647H/1/2147483646H -> .../2
    [
      'xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL',
      2,
      'xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt',
    ],
  ] as [string, number, string][],
  // vector 1, two steps at once: m/0H/1/2H -> m/0H/1/2H/2/1000000000
  multiStep: {
    parent: 'xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5',
    path: [2, 1000000000],
    child: 'xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy',
  },
}

export const BIP84 = {
  // Account 0, m/84'/0'/0'
  accountZpub: 'zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs',
  addresses: [
    { path: [0, 0], pubkey: '0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c', address: 'bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu' },
    { path: [0, 1], pubkey: '03e775fd51f0dfb8cd865d9ff1cca2a158cf651fe997fdc9fee9c1d3b5e995ea77', address: 'bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g' },
    { path: [1, 0], pubkey: '03025324888e429ab8e3dbaf1f7802648b9cd01e9b418485c5fa4c1b9b5700e1a6', address: 'bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el' },
  ],
}

export const BIP86 = {
  // Account 0, m/86'/0'/0'
  accountXpub: 'xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ',
  addresses: [
    {
      path: [0, 0],
      internalKey: 'cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115',
      outputKey: 'a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c',
      scriptPubKey: '5120a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c',
      address: 'bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr',
    },
    {
      path: [0, 1],
      internalKey: '83dfe85a3151d2517290da461fe2815591ef69f2b18a2ce63f01697a8b313145',
      outputKey: 'a82f29944d65b86ae6b5e5cc75e294ead6c59391a1edc5e016e3498c67fc7bbb',
      scriptPubKey: '5120a82f29944d65b86ae6b5e5cc75e294ead6c59391a1edc5e016e3498c67fc7bbb',
      address: 'bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh',
    },
    {
      path: [1, 0],
      internalKey: '399f1b2f4393f29a18c937859c5dd8a77350103157eb880f02e8c08214277cef',
      outputKey: '882d74e5d0572d5a816cef0041a96b6c1de832f6f9676d9605c44d5e9a97d3dc',
      scriptPubKey: '5120882d74e5d0572d5a816cef0041a96b6c1de832f6f9676d9605c44d5e9a97d3dc',
      address: 'bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7',
    },
  ],
}

// bip-0341/wallet-test-vectors.json
export const BIP341 = {
  // scriptPubKey[0]: key-path only (scriptTree null)
  tweak: {
    internalPubkey: 'd6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d',
    tweakedPubkey: '53a1f6e454df1aa2776a2814a721372d6258050de330b3c6d10ee8f4e0dda343',
    bip350Address: 'bc1p2wsldez5mud2yam29q22wgfh9439spgduvct83k3pm50fcxa5dps59h4z5',
  },
  // keyPathSpending[0]: the transaction, the outputs it spends, and its one hashType 0 (SIGHASH_DEFAULT) input
  keyPathSpending: {
    rawUnsignedTx:
      '02000000097de20cbff686da83a54981d2b9bab3586f4ca7e48f57f5b55963115f3b334e9c010000000000000000d7b7cab57b1393ace2d064f4d4a2cb8af6def61273e127517d44759b6dafdd990000000000fffffffff8e1f583384333689228c5d28eac13366be082dc57441760d957275419a418420000000000fffffffff0689180aa63b30cb162a73c6d2a38b7eeda2a83ece74310fda0843ad604853b0100000000feffffffaa5202bdf6d8ccd2ee0f0202afbbb7461d9264a25e5bfd3c5a52ee1239e0ba6c0000000000feffffff956149bdc66faa968eb2be2d2faa29718acbfe3941215893a2a3446d32acd050000000000000000000e664b9773b88c09c32cb70a2a3e4da0ced63b7ba3b22f848531bbb1d5d5f4c94010000000000000000e9aa6b8e6c9de67619e6a3924ae25696bb7b694bb677a632a74ef7eadfd4eabf0000000000ffffffffa778eb6a263dc090464cd125c466b5a99667720b1c110468831d058aa1b82af10100000000ffffffff0200ca9a3b000000001976a91406afd46bcdfd22ef94ac122aa11f241244a37ecc88ac807840cb0000000020ac9a87f5594be208f8532db38cff670c450ed2fea8fcdefcc9a663f78bab962b0065cd1d',
    utxosSpent: [
      {
        scriptPubKey: '512053a1f6e454df1aa2776a2814a721372d6258050de330b3c6d10ee8f4e0dda343',
        amountSats: 420000000,
      },
      {
        scriptPubKey: '5120147c9c57132f6e7ecddba9800bb0c4449251c92a1e60371ee77557b6620f3ea3',
        amountSats: 462000000,
      },
      {
        scriptPubKey: '76a914751e76e8199196d454941c45d1b3a323f1433bd688ac',
        amountSats: 294000000,
      },
      {
        scriptPubKey: '5120e4d810fd50586274face62b8a807eb9719cef49c04177cc6b76a9a4251d5450e',
        amountSats: 504000000,
      },
      {
        scriptPubKey: '512091b64d5324723a985170e4dc5a0f84c041804f2cd12660fa5dec09fc21783605',
        amountSats: 630000000,
      },
      {
        scriptPubKey: '00147dd65592d0ab2fe0d0257d571abf032cd9db93dc',
        amountSats: 378000000,
      },
      {
        scriptPubKey: '512075169f4001aa68f15bbed28b218df1d0a62cbbcf1188c6665110c293c907b831',
        amountSats: 672000000,
      },
      {
        scriptPubKey: '5120712447206d7a5238acc7ff53fbe94a3b64539ad291c7cdbc490b7577e4b17df5',
        amountSats: 546000000,
      },
      {
        scriptPubKey: '512077e30a5522dd9f894c3f8b8bd4c4b2cf82ca7da8a3ea6a239655c39c050ab220',
        amountSats: 588000000,
      },
    ],
    input: {
      given: {
        txinIndex: 4,
        internalPrivkey: 'f36bb07a11e469ce941d16b63b11b9b9120a84d9d87cff2c84a8d4affb438f4e',
        merkleRoot: 'ccbd66c6f7e8fdab47b3a486f59d28262be857f30d4773f2d5ea47f7761ce0e2',
        hashType: 0,
      },
      intermediary: {
        internalPubkey: 'e0dfe2300b0dd746a3f8674dfd4525623639042569d829c7f0eed9602d263e6f',
        tweak: 'b57bfa183d28eeb6ad688ddaabb265b4a41fbf68e5fed2c72c74de70d5a786f4',
        tweakedPrivkey: 'a8e7aa924f0d58854185a490e6c41f6efb7b675c0f3331b7f14b549400b4d501',
        sigMsg:
          '0000020000000065cd1de3b33bb4ef3a52ad1fffb555c0d82828eb22737036eaeb02a235d82b909c4c3f58a6964a4f5f8f0b642ded0a8a553be7622a719da71d1f5befcefcdee8e0fde623ad0f61ad2bca5ba6a7693f50fce988e17c3780bf2b1e720cfbb38fbdd52e2118959c7221ab5ce9e26c3cd67b22c24f8baa54bac281d8e6b05e400e6c3a957ea2e6dab7c1f0dcd297c8d61647fd17d821541ea69c3cc37dcbad7f90d4eb4bc50004000000',
        precomputedUsed: ['hashAmounts', 'hashOutputs', 'hashPrevouts', 'hashScriptPubkeys', 'hashSequences'],
        sigHash: '4f900a0bae3f1446fd48490c2958b5a023228f01661cda3496a11da502a7f7ef',
      },
      expected: {
        witness: ['b4010dd48a617db09926f729e79c33ae0b4e94b79f04a1ae93ede6315eb3669de185a17d2b0ac9ee09fd4c64b678a0b61a0a86fa888a273c8511be83bfd6810f'],
      },
    },
  } as {
    rawUnsignedTx: string
    utxosSpent: { scriptPubKey: string; amountSats: number }[]
    input: {
      given: { txinIndex: number; internalPrivkey: string; merkleRoot: string | null; hashType: number }
      intermediary: { internalPubkey: string; tweak: string; tweakedPrivkey: string; sigMsg: string; precomputedUsed: string[]; sigHash: string }
      expected: { witness: string[] }
    }
  },
}

export const BIP380 = {
  valid: [
    ['raw(deadbeef)', '89f8spxm'], // bip-0380
    // bip-0393 ("the same descriptor without annotations remains valid")
    ['wpkh([deadbeef/84h/0h/0h]xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL/0/*)', 'kf3v6fpx'],
  ] as [string, string][],
  errorInPayload: ['raw(deedbeef)', '89f8spxm'] as [string, string],
  invalidCharacter: 'raw(Ü)',
}
